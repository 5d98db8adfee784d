"""What a wheel has to fit: the base image's Python, C library and architecture.

Everything is read from the base's ``status.d`` (``python3.13-minimal`` gives the Python
version, ``libc6`` the glibc version), so a wheel is chosen for the interpreter that will
load it, never for the host's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from distroless.debian.resolver import Package
from distroless.errors import PythonPackageError
from distroless.oci.arch import kernel_of_debian

_MINIMAL = re.compile(r"^python3\.([0-9]+)-minimal$")
_GLIBC = re.compile(r"^(?:[0-9]+:)?([0-9]+)\.([0-9]+)")
#: manylinux_2_5 is the oldest glibc a manylinux tag names (manylinux1)
_OLDEST_GLIBC_MINOR = 5


@dataclass(frozen=True)
class PythonTarget:
    """The interpreter wheels are chosen and installed for."""

    version: str  # "3.13"
    glibc: tuple[int, int]  # (2, 41)
    arch: str  # Debian name, "arm64"

    @property
    def nodot(self) -> str:
        return self.version.replace(".", "")

    @property
    def machine(self) -> str:
        """The machine name in wheel platform tags (``x86_64``), the kernel's."""
        machine = kernel_of_debian(self.arch)
        if machine is None:
            raise PythonPackageError(f"no wheels are chosen for architecture {self.arch}")
        return machine

    @property
    def abis(self) -> tuple[str, ...]:
        return (f"cp{self.nodot}", "abi3", "none")

    def platform_tags(self) -> list[str]:
        """Every manylinux tag whose glibc the base satisfies, newest first (pip's order).

        pip does not widen ``--platform manylinux_2_41_x86_64`` to older glibc versions
        by itself, so each one is given; the legacy aliases name the same glibc versions.
        """
        major, minor = self.glibc
        tags = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, 4, -1)]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        for glibc_minor, alias in legacy.items():
            if minor >= glibc_minor and not (alias == "manylinux2014" and self.arch == "riscv64"):
                tags.append(f"{alias}_{self.machine}")
        return tags

    @property
    def interpreter(self) -> str:
        return f"/usr/bin/python{self.version}"

    @property
    def site_packages(self) -> str:
        """Where Debian's Python (``sysconfig`` purelib) installs what is not a .deb."""
        return f"/usr/local/lib/python{self.version}/dist-packages"

    def scheme(self) -> dict[str, str]:
        """Install paths in the image, as Debian's ``posix_local`` scheme names them."""
        return {
            "purelib": self.site_packages,
            "platlib": self.site_packages,
            "headers": f"/usr/local/include/python{self.version}",
            "scripts": "/usr/local/bin",
            "data": "/usr/local",
        }

    def __str__(self) -> str:
        return (
            f"CPython {self.version} on linux/{self.arch} (glibc {self.glibc[0]}.{self.glibc[1]})"
        )


def python_target(
    packages: Sequence[Package], arch: str, base: str, wanted: str | None = None
) -> PythonTarget:
    """The target of a base holding ``packages``; ``wanted`` is the spec's ``version``."""
    versions = sorted(
        (int(m.group(1)) for p in packages if (m := _MINIMAL.match(p.name))), reverse=True
    )
    if not versions:
        raise PythonPackageError(
            f"the base {base} has no Python (no python3.N-minimal package in its status.d); "
            "use base: distroless/python3"
        )
    version = f"3.{versions[0]}"
    if wanted is not None and wanted != version:
        raise PythonPackageError(
            f"python version {wanted} is not the Python of the base {base} ({version}); "
            f"set python.version to {version} or drop it"
        )
    libc = next((p for p in packages if p.name == "libc6"), None)
    match = _GLIBC.match(str(libc.version)) if libc is not None else None
    if match is None:
        raise PythonPackageError(f"the base {base} has no libc6 in its status.d")
    if kernel_of_debian(arch) is None:
        raise PythonPackageError(f"no wheels are chosen for architecture {arch}")
    glibc = (int(match.group(1)), int(match.group(2)))
    return PythonTarget(version, glibc, arch)
