"""Architecture names: Debian's, the kernel's and OCI's, in one table.

Debian names a port (``armhf``), the kernel names a machine (``armv7l``) and an image
names a platform (``arm`` with variant ``v7``).  Packages are fetched by the first, the
host is read as the second, and manifests, indexes and ``--platform`` speak the third;
every translation between them is a look-up here.
"""

from __future__ import annotations

import platform

from distroless.errors import InputError

Oci = tuple[str, str | None]

#: each Debian architecture with a glibc loader (release ports and a few others), as the
#: OCI image spec's platform ``architecture`` and ``variant``
DEBIAN_TO_OCI: dict[str, Oci] = {
    "amd64": ("amd64", None),
    "arm64": ("arm64", None),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v5"),
    "i386": ("386", None),
    "ppc64el": ("ppc64le", None),
    "ppc64": ("ppc64", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
    "mips64el": ("mips64le", None),
    "loong64": ("loong64", None),
}

#: what ``uname -m`` says on the machines those ports run on
KERNEL_TO_OCI: dict[str, Oci] = {
    "x86_64": ("amd64", None),
    "aarch64": ("arm64", None),
    "armv7l": ("arm", "v7"),
    "armv5tel": ("arm", "v5"),
    "i686": ("386", None),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
    "loongarch64": ("loong64", None),
}

#: the OCI platform's own variant-free default: ``arm`` alone means v7, as docker reads it
_DEFAULT_VARIANT = {"arm": "v7"}
_OCI_TO_DEBIAN = {oci: debian for debian, oci in DEBIAN_TO_OCI.items()}
_OCI_NAMES = frozenset(oci for oci, _ in DEBIAN_TO_OCI.values())
_OCI_TO_KERNEL = {oci: kernel for kernel, oci in KERNEL_TO_OCI.items()}


def oci_of_debian(arch: str) -> Oci:
    """The OCI ``(architecture, variant)`` of the Debian architecture ``arch``."""
    try:
        return DEBIAN_TO_OCI[arch]
    except KeyError:
        known = ", ".join(DEBIAN_TO_OCI)
        raise InputError(f"unknown Debian architecture {arch!r}; known: {known}") from None


def kernel_of_debian(arch: str) -> str | None:
    """What ``uname -m`` says on a machine the Debian architecture ``arch`` runs on (the
    name wheel platform tags use); None for a port the table knows no machine of."""
    oci = DEBIAN_TO_OCI.get(arch)
    return _OCI_TO_KERNEL.get(oci) if oci is not None else None


def debian_of_oci(architecture: str, variant: str | None) -> str:
    """The Debian architecture whose packages run on an OCI platform."""
    if architecture == "arm64" and variant == "v8":
        variant = None
    wanted = (architecture, variant or _DEFAULT_VARIANT.get(architecture))
    try:
        return _OCI_TO_DEBIAN[wanted]
    except KeyError:
        shown = f"{architecture}/{variant}" if variant else architecture
        raise InputError(f"no Debian architecture builds for the platform linux/{shown}") from None


def oci_of_name(name: str) -> Oci:
    """What an architecture typed as a Debian, kernel or OCI name means as an OCI one.

    OCI names stand for themselves with no variant (``arm`` is ``arm``, its variant left
    open); Debian and kernel names bring their variant (``armhf`` is ``arm``/``v7``).
    """
    if name in _OCI_NAMES:
        return name, None
    return DEBIAN_TO_OCI.get(name) or KERNEL_TO_OCI.get(name) or (name, None)


def host_oci() -> Oci:
    """The OCI platform of this machine, from the kernel's name for it."""
    machine = platform.machine()
    return KERNEL_TO_OCI.get(machine, (machine, None))
