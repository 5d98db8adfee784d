"""Debian architectures of the bases and the OCI platforms their images declare.

Debian names an architecture (``armhf``); an image index names a platform
(``linux/arm/v7``).  The translation is the one table of :mod:`distroless.oci.arch`
(``Platform.of_debian`` and ``Platform.debian_arch``): ``armhf`` is ``arm``/``v7``,
``armel`` is ``arm``/``v5``, ``i386`` is ``386`` and ``ppc64el`` is ``ppc64le``; the
other names are the same on both sides.  Those are the values the OCI image-index
specification lists and docker matches ``--platform`` against.

Each Debian release has its own architectures (:data:`RELEASE_ARCHS`); which of them a
lock holds is decided when the lock is made, from what the archive serves.
"""

from __future__ import annotations

from collections.abc import Sequence

from distroless.errors import InputError, UsageError
from distroless.oci.models import Platform

#: The architectures Debian releases, per distro, in the order the docs list them.
RELEASE_ARCHS: dict[str, tuple[str, ...]] = {
    "debian13": ("amd64", "arm64", "armhf", "armel", "i386", "ppc64el", "riscv64", "s390x"),
    "debian12": ("amd64", "arm64", "armhf", "armel", "i386", "ppc64el", "s390x"),
}
#: What ``--arch all`` asks for.
ALL = "all"


def host_arch() -> str:
    """The host's Debian architecture (``amd64`` when the machine is not one Debian has)."""
    try:
        return Platform.host().debian_arch()
    except InputError:
        return "amd64"


def default_archs() -> tuple[str, ...]:
    """What ``bases build`` makes without ``--arch``: the host's architecture and arm64."""
    return tuple(dict.fromkeys((host_arch(), "arm64")))


def parse_archs(text: str, distro: str, locked: Sequence[str]) -> tuple[str, ...]:
    """``--arch`` text: comma-separated Debian names, or ``all`` for every locked one.

    ``locked`` are the architectures the distro's lock holds: a release architecture the
    archive did not serve when the lock was made cannot be built and is named as such.
    """
    release = RELEASE_ARCHS[distro]
    names = tuple(dict.fromkeys(a.strip() for a in text.split(",") if a.strip()))
    if names == (ALL,):
        return tuple(a for a in release if a in locked)
    if not names:
        raise UsageError(f"no architecture in {text!r}; known: {', '.join(release)}, all")
    for name in names:
        if name not in release:
            raise UsageError(
                f"unknown architecture {name!r} for {distro}; known: {', '.join(release)}, all"
            )
        if name not in locked:
            raise UsageError(
                f"the {distro} base lock has no {name} packages: when it was made the "
                f"archive's {distro} suites did not all serve {name}"
            )
    return names
