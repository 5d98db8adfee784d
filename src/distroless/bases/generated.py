"""The files no Debian package provides in a distroless base: one generated layer.

Debian creates these with maintainer scripts (``base-passwd``, ``update-ca-certificates``,
``ldconfig``) which never run here, so they are written directly: the user and group
databases, ``nsswitch.conf``, the distroless ``os-release``, the writable and home
directories, and the CA bundle.  All of them are small by construction.

The CA bundle follows the published static image: the PEM files that ca-certificates
ships under ``/usr/share/ca-certificates`` are concatenated, in the byte order of their
relative paths (the order update-ca-certificates reads them in), into
``/etc/ssl/certs/ca-certificates.crt``; only the bundle, the package's copyright file and
its ``status.d`` entry go into the image, not the individual files nor hash links.  A
base with a JVM also gets the Java trust store made from that bundle
(:mod:`distroless.bases.java_truststore`), where ``ca-certificates-java`` would write it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from distroless.bases.java_truststore import PATH as JAVA_CACERTS
from distroless.bases.java_truststore import java_truststore
from distroless.bases.ldcache import cache_entries, write_cache
from distroless.debian.deb import deb_entries
from distroless.debian.sources import distro as distro_info
from distroless.errors import ArchiveError
from distroless.layers.entry import Entry, EntryType

NONROOT = 65532

USERS = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
)
GROUPS = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"
NSSWITCH = (
    "passwd:         compat\n"
    "group:          compat\n"
    "shadow:         compat\n"
    "\n"
    "hosts:          files dns\n"
    "networks:       files\n"
    "\n"
    "protocols:      files\n"
    "services:       files\n"
    "ethers:         files\n"
    "rpc:            files\n"
)
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
CA_SOURCE_DIR = "usr/share/ca-certificates/"
CA_COPYRIGHT = "usr/share/doc/ca-certificates/copyright"
CA_STATUS = "var/lib/dpkg/status.d/ca-certificates"


def os_release(distro: str) -> str:
    """``/usr/lib/os-release``: Debian's identity, distroless's pretty name.

    ``VERSION`` is written as the published images write it (``Debian GNU/Linux 13
    (trixie)``, where Debian's own file says ``13 (trixie)``): their structure tests and
    the scanners that learnt from them expect it.
    """
    info = distro_info(distro)
    return (
        'PRETTY_NAME="Distroless"\n'
        'NAME="Debian GNU/Linux"\n'
        'ID="debian"\n'
        f'VERSION_ID="{info.version}"\n'
        f'VERSION="Debian GNU/Linux {info.version} ({info.codename})"\n'
        f'VERSION_CODENAME="{info.codename}"\n'
    )


def base_files(distro: str) -> list[Entry]:
    """Users, groups, name service, os-release and the directories every base has."""
    return [
        Entry.file("etc/passwd", USERS.encode()),
        Entry.file("etc/group", GROUPS.encode()),
        Entry.file("etc/nsswitch.conf", NSSWITCH.encode()),
        Entry.file("usr/lib/os-release", os_release(distro).encode()),
        Entry.directory("tmp", 0o1777),
        Entry.directory("root", 0o700),
        Entry.directory("home", 0o755),
        Entry.directory("home/nonroot", 0o700, NONROOT, NONROOT),
    ]


def ca_bundle(ca_deb: Path, *, merged_usr: bool) -> list[Entry]:
    """The bundle, copyright and status entry made from the ca-certificates .deb."""
    pems: list[Entry] = []
    kept: dict[str, Entry] = {}
    for entry in deb_entries(ca_deb, merged_usr=merged_usr, package_name="ca-certificates"):
        if (
            entry.path.startswith(CA_SOURCE_DIR)
            and entry.path.endswith(".crt")
            and entry.type is EntryType.FILE
        ):
            pems.append(entry)
        elif entry.path in (CA_COPYRIGHT, CA_STATUS) and entry.type is EntryType.FILE:
            kept[entry.path] = entry
    if not pems:
        raise ArchiveError(f"{ca_deb}: ca-certificates ships no certificates")
    missing = [p for p in (CA_COPYRIGHT, CA_STATUS) if p not in kept]
    if missing:
        raise ArchiveError(f"{ca_deb}: ca-certificates lacks {missing[0]}")
    bundle = bytearray()
    for pem in sorted(pems, key=lambda e: e.path.encode()):
        with pem.open() as fh:
            data = fh.read()
        bundle += data
        if data and not data.endswith(b"\n"):
            bundle += b"\n"
    out = [Entry.file(CA_BUNDLE, bytes(bundle))]
    for path in (CA_COPYRIGHT, CA_STATUS):
        with kept[path].open() as fh:
            out.append(Entry.file(path, fh.read()))
    return out


def package_tree(debs: Iterable[Path], *, merged_usr: bool) -> dict[str, Entry]:
    """The file tree the package layers make together, later packages on top."""
    tree: dict[str, Entry] = {}
    for deb in debs:
        for entry in deb_entries(deb, merged_usr=merged_usr):
            tree[entry.path] = entry
    return tree


@dataclass(frozen=True)
class GeneratedFiles:
    """What goes into a base's generated layer (inputs only; entries come on demand)."""

    distro: str
    arch: str
    ca_deb: Path | None
    symlinks: tuple[tuple[str, str], ...] = ()
    ld_cache_debs: tuple[Path, ...] | None = None
    java_truststore: bool = False
    #: the entries of .debs whose layers were just made (filled as they are made): the
    #: loader cache is computed from those instead of reading each package again
    made: Mapping[Path, Sequence[Entry]] = field(default_factory=dict, compare=False)

    def entries(self) -> Iterator[Entry]:
        merged_usr = distro_info(self.distro).merged_usr
        items: dict[str, Entry] = {e.path: e for e in base_files(self.distro)}
        if self.ca_deb is not None:
            items.update({e.path: e for e in ca_bundle(self.ca_deb, merged_usr=merged_usr)})
            if self.java_truststore:
                with items[CA_BUNDLE].open() as fh:
                    bundle = fh.read()
                store = java_truststore(bundle, source=f"/{CA_BUNDLE}")
                items[JAVA_CACERTS] = Entry.file(JAVA_CACERTS, store)
        for path, target in self.symlinks:
            link = Entry.symlink(path, target)
            items[link.path] = link
        if self.ld_cache_debs is not None:
            tree: Mapping[str, Entry]
            if all(deb in self.made for deb in self.ld_cache_debs):
                tree = {e.path: e for deb in self.ld_cache_debs for e in self.made[deb]}
            else:
                tree = package_tree(self.ld_cache_debs, merged_usr=merged_usr)
            data = write_cache(cache_entries({**tree, **items}, self.arch))
            items["etc/ld.so.cache"] = Entry.file("etc/ld.so.cache", data)
        yield from items.values()
