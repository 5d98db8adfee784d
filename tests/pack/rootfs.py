"""A Debian-like root directory with hand-made ELF files and a dpkg database, for ``pack``.

It is laid out as a merged-/usr Debian system: ``/lib`` and ``/lib64`` are links into
``/usr``, and the packages' ``.list`` files name paths through those links (as dpkg keeps
them), so attribution has to resolve directories to match the files the loader maps.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tests.verify.elftree import AMD64, library, program

TRIPLET = AMD64.triplet
LIB = f"usr/lib/{TRIPLET}"


def _write(root: Path, rel: str, data: bytes, mode: int = 0o644) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def _link(root: Path, rel: str, target: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def _package(name: str, version: str, status: str = "install ok installed") -> str:
    return (
        f"Package: {name}\nStatus: {status}\nVersion: {version}\nArchitecture: amd64\n"
        f"Maintainer: Someone <someone@example.org>\nDescription: the {name} package\n"
    )


def debian_root(root: Path, lists: Mapping[str, list[str]] | None = None) -> Path:
    """Write the tree; ``/usr/bin/app`` needs libz and libc and imports ``getaddrinfo``."""
    ld = "ld-linux-x86-64.so.2"
    _link(root, "lib", "usr/lib")
    _link(root, "lib64", "usr/lib64")
    _link(root, f"usr/lib64/{ld}", f"../lib/{TRIPLET}/{ld}")
    _write(root, f"{LIB}/{ld}", library(ld, version_defs=[ld]), 0o755)
    _write(
        root,
        f"{LIB}/libc.so.6",
        library("libc.so.6", version_defs=["libc.so.6", "GLIBC_2.34"], needed=(ld,)),
    )
    _write(root, f"{LIB}/libz.so.1.2.13", library("libz.so.1"))
    _link(root, f"{LIB}/libz.so.1", "libz.so.1.2.13")
    _write(root, f"{LIB}/libunused.so.1", library("libunused.so.1"))
    _write(root, f"{LIB}/libdep.so.1", library("libdep.so.1"))
    _write(root, f"{LIB}/libnss_mymod.so.2", library("libnss_mymod.so.2", needed=("libdep.so.1",)))
    _write(root, f"{LIB}/libgcc_s.so.1", library("libgcc_s.so.1"))
    _write(
        root,
        "usr/bin/app",
        program(needed=("libz.so.1", "libc.so.6"), imports=("getaddrinfo", "pthread_cancel")),
        0o750,
    )
    _write(root, "etc/nsswitch.conf", b"passwd: files\nhosts: files mymod [NOTFOUND=return] dns\n")
    _write(root, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    _write(root, "usr/share/doc/zlib1g/copyright", b"zlib license\n")
    _write(root, "usr/share/zoneinfo/UTC", b"TZif2 utc\n")
    _link(root, "usr/share/zoneinfo/Etc/UTC", "../UTC")
    _write(root, "etc/ssl/certs/ca-certificates.crt", b"-----BEGIN CERTIFICATE-----\n")
    listed = lists or {
        "libc6": [f"/lib/{TRIPLET}/libc.so.6", f"/lib/{TRIPLET}/{ld}", f"/lib64/{ld}", "/lib"],
        "zlib1g": [
            f"/lib/{TRIPLET}/libz.so.1",
            f"/lib/{TRIPLET}/libz.so.1.2.13",
            "/usr/share/doc/zlib1g/copyright",
        ],
        "libunused1": [f"/usr/lib/{TRIPLET}/libunused.so.1"],
        "libnss-mymod": [
            f"/usr/lib/{TRIPLET}/libnss_mymod.so.2",
            f"/usr/lib/{TRIPLET}/libdep.so.1",
        ],
        "app": ["/usr/bin", "/usr/bin/app"],
        "tzdata": ["/usr/share/zoneinfo/UTC", "/usr/share/zoneinfo/Etc/UTC"],
    }
    status = [_package(name, "1.0-1") for name in sorted(listed)]
    status.append(_package("removed", "0.1", status="deinstall ok config-files"))
    _write(root, "var/lib/dpkg/status", "\n".join(status).encode())
    for name, paths in listed.items():
        _write(
            root, f"var/lib/dpkg/info/{name}:amd64.list", "".join(p + "\n" for p in paths).encode()
        )
    return root
