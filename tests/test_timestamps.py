"""The one spelling of times in what we write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from distroless.timestamps import rfc3339


def test_epoch_seconds_are_utc_to_the_second() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1_700_000_000) == "2023-11-14T22:13:20Z"


def test_a_datetime_with_an_offset_is_turned_into_utc() -> None:
    east = datetime(2024, 5, 1, 2, 30, 15, 999_999, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(east) == "2024-05-01T00:30:15Z"


def test_a_naive_datetime_is_taken_as_utc() -> None:
    assert rfc3339(datetime(2024, 5, 1, 0, 30)) == rfc3339(datetime(2024, 5, 1, 0, 30, tzinfo=UTC))
