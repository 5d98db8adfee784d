"""The build's notion of "now": SOURCE_DATE_EPOCH, so rebuilds give identical bytes."""

from __future__ import annotations

import os

from distroless.errors import InputError
from distroless.timestamps import rfc3339

#: ``rfc3339`` is re-exported for the Dockerfile executor, which imports it from here
__all__ = ["rfc3339", "source_date_epoch"]


def source_date_epoch(env: dict[str, str] | None = None) -> int:
    raw = (env if env is not None else dict(os.environ)).get("SOURCE_DATE_EPOCH", "0")
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds") from None
    if value < 0:
        raise InputError(f"SOURCE_DATE_EPOCH={raw!r} must not be negative")
    return value
