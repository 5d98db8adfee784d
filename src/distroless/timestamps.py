"""Times as every document we write spells them: RFC 3339, UTC, to the second (``...Z``).

Image configs and their history, SBOMs, attestations, referrer annotations and lock files
all carry times, and a digest changes with a single character of one; so there is one
spelling, made here.
"""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: int | datetime) -> str:
    """``moment`` (seconds since the epoch, or a datetime; a naive one is taken as UTC)."""
    if isinstance(moment, datetime):
        when = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    else:
        when = datetime.fromtimestamp(moment, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
