"""``key=value,key,...`` option lists, as BuildKit reads ``--mount`` and ``--secret``.

The list is one CSV record, so a value holding a comma is written in double quotes.  Keys
are case-insensitive and lower-cased here; each caller decides what a bare key means.
"""

from __future__ import annotations

import csv
from typing import NamedTuple


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
