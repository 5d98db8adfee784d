"""Writing a file the user named: atomically when it is (or will be) a regular file.

A destination such as ``/dev/stdout`` or a named pipe is written in place, as docker
writes its ``--iidfile``: renaming a temp file over it would replace the link or the
device node itself instead of writing to it.  The path is the user's own (trusted).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from distroless.store.atomic import atomic_file


def _in_place(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return not stat.S_ISREG(st.st_mode)


@contextlib.contextmanager
def open_destination(path: Path) -> Iterator[IO[bytes]]:
    """``path`` opened for writing its whole new content."""
    if _in_place(path):
        with open(path, "wb") as fh:
            yield fh
        return
    with atomic_file(path) as fh:
        yield fh


def write_destination(path: Path, data: bytes) -> None:
    with open_destination(path) as fh:
        fh.write(data)
