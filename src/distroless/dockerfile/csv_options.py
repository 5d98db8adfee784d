"""``key=value,key,...`` option lists, as BuildKit reads ``--mount`` and ``--secret``.

The list is one CSV record, so a value holding a comma is written in double quotes.  Keys
are case-insensitive and lower-cased here; each caller decides what a bare key means.
"""

from __future__ import annotations

import csv
from typing import NamedTuple

from distroless.errors import UsageError


class Option(NamedTuple):
    """One item of the list: as written, its lower-cased key, its value (None: no ``=``)."""

    text: str
    key: str
    value: str | None


def csv_options(spec: str) -> list[Option]:
    """The items of ``spec``; ValueError when it is not one CSV record."""
    try:
        items = next(csv.reader([spec]))
    except (csv.Error, StopIteration):
        raise ValueError(spec) from None
    options = []
    for item in items:
        key, sep, value = item.partition("=")
        options.append(Option(item, key.strip().lower(), value if sep else None))
    return options


def key_values(spec: str, flag: str) -> dict[str, str]:
    """A flag's list of ``key=value`` items, each key once (``--output``, ``--cache-to``, ...).

    Raises :class:`UsageError` naming ``flag`` for a list that is no CSV record, an item
    without ``=`` or without a key, and a key given twice.
    """
    try:
        items = csv_options(spec)
    except ValueError:
        raise UsageError(f"invalid {flag} {spec!r}: not a key=value list") from None
    values: dict[str, str] = {}
    for item in items:
        if item.value is None or not item.key:
            raise UsageError(f"invalid {flag} {spec!r}: {item.text!r} is not key=value")
        if item.key in values:
            raise UsageError(f"invalid {flag} {spec!r}: {item.key} given twice")
        values[item.key] = item.value
    return values
