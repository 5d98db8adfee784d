"""Small .debs and a package provider for the base builder's unit tests (no network)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from distroless.debian.lockfile import LockedPackage, Lockfile
from tests.debian.archive_fakes import Files, build_deb

BUSYBOX_BINARY = b"\x7fELF" + bytes(60) + b"usage\0 [\0[[\0ash\0cat\0sh\0true\0\0\x01\x02"
PEM_A = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
PEM_B = b"-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----"  # no final newline

PACKAGES: Mapping[str, Files] = {
    "base-files": {
        "./": None,
        "./bin": "->usr/bin",
        "./lib": "->usr/lib",
        "./etc/": None,
        "./etc/os-release": "->../usr/lib/os-release",
        "./usr/lib/os-release": b'PRETTY_NAME="Debian"\n',
    },
    "libfake1": {"./usr/lib/libfake.so.1": b"not really elf"},
    "ca-certificates": {
        "./usr/share/ca-certificates/mozilla/B.crt": PEM_B,
        "./usr/share/ca-certificates/mozilla/A.crt": PEM_A,
        "./usr/share/doc/ca-certificates/copyright": b"certificate licences\n",
        "./usr/sbin/update-ca-certificates": b"#!/bin/sh\n",
    },
    "busybox-static": {"./bin/busybox": BUSYBOX_BINARY},
}


class FakeDebs:
    """Builds each package's .deb once under ``root`` and hands out their paths."""

    def __init__(self, root: Path, packages: Mapping[str, Files] = PACKAGES) -> None:
        self.paths = {
            name: build_deb(root / f"{name}.deb", name, files) for name, files in packages.items()
        }

    def locked(self, arch: str) -> tuple[LockedPackage, ...]:
        out = []
        for name, path in self.paths.items():
            sha = hashlib.sha256(path.read_bytes() + arch.encode()).hexdigest()
            out.append(
                LockedPackage(name, "1.0", arch, f"pool/{name}.deb", path.stat().st_size, sha, name)
            )
        return tuple(out)

    def lock(self, distro: str = "debian13") -> Lockfile:
        return Lockfile(
            distro=distro,
            suites=(),
            archs={arch: self.locked(arch) for arch in ("amd64", "arm64")},
            spec_digest="sha256:" + "0" * 64,
        )

    def deb_paths(self, packages: Sequence[LockedPackage]) -> Mapping[str, Path]:
        return {p.name: self.paths[p.name] for p in packages}

    def planned_path(self, package: LockedPackage) -> Path:
        return self.paths[package.name]
