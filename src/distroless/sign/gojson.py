"""JSON as Go's ``encoding/json`` marshals maps: sorted keys, compact, HTML characters escaped.

The signed documents of the sigstore world (cosign's simple-signing payload, its signature
image config) are produced by ``json.Marshal``.  Writing the same bytes for the same content
means our signatures are indistinguishable from cosign's, and a payload cosign made
round-trips through us unchanged.  Go escapes ``<``, ``>`` and ``&`` and the two Unicode line
separators inside strings; Python's encoder does not.  Those characters can only occur
inside JSON strings, so replacing them in the encoded text is exact.
"""

from __future__ import annotations

import json
from typing import Any

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_TABLE = str.maketrans(_GO_ESCAPES)


def dumps(obj: Any, *, sort_keys: bool = True) -> bytes:
    """``obj`` as Go marshals it; ``sort_keys=False`` keeps dict order (Go's struct order)."""
    text = json.dumps(
        obj, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.translate(_TABLE).encode()
