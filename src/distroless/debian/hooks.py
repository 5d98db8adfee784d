"""What maintainer scripts would have made, made without running anything.

Maintainer scripts never run in our images, yet some packages are useless without their
effect.  The one that matters most is ``ca-certificates``: its postinst concatenates the
shipped certificates into ``/etc/ssl/certs/ca-certificates.crt``, the file TLS stacks
(OpenSSL, Go, Python) read.  We build that bundle from the .deb's own files, in sorted
order; ``distroless.assemble.packages`` makes it one small layer cached by the .deb's sha256.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from distroless.debian.deb import deb_entries
from distroless.layers.entry import Entry, EntryType

CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
_CA_SOURCE = "usr/share/ca-certificates/"


def ca_bundle_entries(deb: Path, *, merged_usr: bool) -> Iterator[Entry]:
    """The bundle file: every ``.crt`` of the package, sorted by path, newline-terminated.

    The bundle is a few hundred kilobytes, so it is gathered in memory like other
    generated files.
    """
    parts = []
    for entry in deb_entries(deb, merged_usr=merged_usr):
        if (
            entry.type is EntryType.FILE
            and entry.path.startswith(_CA_SOURCE)
            and entry.path.endswith(".crt")
        ):
            with entry.open() as fh:
                data = fh.read()
            parts.append(data if data.endswith(b"\n") else data + b"\n")
    yield Entry.file(CA_BUNDLE, b"".join(parts))
