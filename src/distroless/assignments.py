"""``KEY=VALUE`` arguments (``--build-arg``, ``-e``) read by docker's rule.

``KEY=VALUE`` sets, ``KEY`` alone takes the host's value and is dropped when the host has
none.  The warm path reads ``--build-arg`` before click loads, so this module imports
nothing but the exception tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from distroless.errors import UsageError


def parse_assignments(
    items: Iterable[str], *, what: str, host_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The settings ``items`` make; ``what`` names the flag in the error for an empty key."""
    host = os.environ if host_env is None else host_env
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid {what} {item!r}: expected KEY=VALUE")
        if sep:
            out[key] = value
        elif key in host:
            out[key] = host[key]
    return out
