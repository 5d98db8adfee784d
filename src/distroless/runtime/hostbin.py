"""Host programs lent to a container: the ``--init`` process and the debug toolbox.

A distroless image has no C library to offer, let alone the host's, so what we mount
into a container from the host must be a static program: no ``PT_INTERP``, no needed
libraries.  Both come from Debian packages (``tini``'s ``tini-static``,
``busybox-static``); they are mounted read-only and are never part of an image.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from distroless.errors import SandboxError

TINI_NAMES = ("tini-static",)
TINI_PLACES = (Path("/usr/bin/tini-static"), Path("/usr/local/bin/tini-static"))


def is_static_program(path: Path) -> bool:
    """Whether ``path`` is an ELF executable that needs no loader and no library."""
    # the ELF package loads on first use: every build imports the runtime, few use --init
    from distroless.elf.reader import MalformedElfError, read_elf

    try:
        with path.open("rb") as fh:
            info = read_elf(fh, imports=False)
    except (OSError, MalformedElfError):
        return False
    return info.interpreter is None and not info.needed and info.type in ("ET_EXEC", "ET_DYN")


def find_tini() -> Path:
    """Debian's static ``tini`` on this host, for ``--init``."""
    candidates = [Path(p) for n in TINI_NAMES if (p := shutil.which(n))]
    candidates += [p for p in TINI_PLACES if p.is_file()]
    for candidate in candidates:
        if is_static_program(candidate):
            return candidate
    raise SandboxError(
        "--init needs a static tini on the host: install the Debian package tini "
        "(it ships /usr/bin/tini-static)"
    )
