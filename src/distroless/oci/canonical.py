"""Canonical JSON: the one serialisation used for every document we write.

Sorted keys and compact separators make the bytes (and so the digest) depend only on the
content, never on dict order or the Python version.
"""

from __future__ import annotations

import json
from typing import Any

from distroless.oci.digest import Digest, sha256_bytes


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(obj: Any) -> tuple[bytes, Digest]:
    data = dumps(obj)
    return data, sha256_bytes(data)
