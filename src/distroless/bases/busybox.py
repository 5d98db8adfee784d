"""The debug layer: Debian's static busybox under ``/busybox`` with one link per applet.

The applet list is read from the binary itself rather than by running it, so an arm64
image is built the same way as an amd64 one on any host.  Busybox keeps its applet
names as one sorted, NUL-separated string table that starts with ``[`` and ``[[``; it is
found by that start and read up to the first name that is not an applet name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from distroless.debian.deb import deb_entries
from distroless.errors import ArchiveError
from distroless.layers.entry import Entry, EntryType

DIR = "busybox"
TABLE_START = b"[\0[[\0"
_NAME = re.compile(rb"^[a-z0-9_.\-\[\]]+$")
MAX_BINARY = 64 << 20


def applet_names(binary: bytes) -> list[str]:
    """The applets a busybox binary provides, from its name table."""
    at = binary.find(TABLE_START)
    if at < 0:
        raise ArchiveError("busybox binary has no applet name table")
    names: list[str] = []
    for raw in binary[at:].split(b"\0"):
        if not raw or not _NAME.match(raw):
            break
        name = raw.decode()
        if names and name <= names[-1]:
            break  # the table is sorted; anything out of order is past its end
        names.append(name)
    if "sh" not in names:
        raise ArchiveError("busybox binary's applet table has no 'sh'")
    return names


def busybox_entries(deb: Path, *, merged_usr: bool) -> Iterator[Entry]:
    """``/busybox/busybox``, its applet links and the package's status.d entries."""
    binary: Entry | None = None
    status: list[Entry] = []
    for entry in deb_entries(deb, merged_usr=merged_usr):
        if entry.path in ("bin/busybox", "usr/bin/busybox") and entry.type is EntryType.FILE:
            binary = entry
        elif entry.path.startswith("var/lib/dpkg/status.d/"):
            status.append(entry)
    if binary is None:
        raise ArchiveError(f"{deb}: busybox package ships no bin/busybox")
    if binary.size > MAX_BINARY:
        raise ArchiveError(f"{deb}: busybox binary is implausibly large")
    with binary.open() as fh:
        data = fh.read()
    yield Entry.directory(DIR)
    yield Entry.file(f"{DIR}/busybox", data, 0o755)
    for name in applet_names(data):
        if name != "busybox":
            yield Entry.symlink(f"{DIR}/{name}", "busybox")
    yield from status
