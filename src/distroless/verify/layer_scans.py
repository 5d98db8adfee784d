"""What the SBOM's pass found in one layer, kept by the layer's digest.

An image built on a base shares every base layer with the images before it, and a layer's
digest fixes its bytes: what :mod:`distroless.verify.scan` learns from a layer (its members'
metadata, each file's checksums, the metadata files it keeps, Go build info, jar
coordinates) is the same every time it is read.  The store keeps it under
``state/scans/<hex>.json``, so the SBOM of a rebuilt image streams only its new layers; a
1 GB base layer is read once, not on every build above it.

A record is a hint: one that is missing, damaged, of another format or of another layer is
ignored and the layer is read again.  ``prune`` drops the records of layers the store no
longer holds, ``prune --all`` all of them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from distroless.errors import StoreError
from distroless.oci.digest import hex_of, is_digest
from distroless.store.atomic import atomic_write_bytes
from distroless.verify.fsview import CAPABILITY_XATTR
from distroless.verify.golang import GoBuildInfo, GoModule
from distroless.verify.maven import MavenArtifact

#: Bump when a record's content or meaning changes, so an old one is never misread.
SCAN_FORMAT = "1"
#: where a store keeps the records, under ``state/``
SCANS_DIR = "scans"

#: (name, tar type, mode, uid, gid, size, link target, has capabilities) of one member
Member = tuple[str, str, int, int, int, int, str, bool]


@dataclass
class LayerScan:
    """One layer's share of a scan, by path in the image (see the module docstring)."""

    members: list[Member] = field(default_factory=list)
    hashes: dict[str, tuple[str, str]] = field(default_factory=dict)
    kept: dict[str, bytes] = field(default_factory=dict)
    go: dict[str, GoBuildInfo] = field(default_factory=dict)
    jars: dict[str, list[MavenArtifact]] = field(default_factory=dict)

    def record(self, member: tarfile.TarInfo) -> None:
        self.members.append(
            (
                member.name,
                member.type.decode("latin-1"),
                member.mode,
                member.uid,
                member.gid,
                member.size,
                member.linkname,
                CAPABILITY_XATTR in member.pax_headers,
            )
        )

    def replay(self) -> Iterator[tuple[tarfile.TarInfo, None]]:
        """The layer's members again, with the metadata a view reads and no content."""
        for name, kind, mode, uid, gid, size, linkname, capabilities in self.members:
            info = tarfile.TarInfo(name)
            info.type = kind.encode("latin-1")
            info.mode, info.uid, info.gid, info.size = mode, uid, gid, size
            info.linkname = linkname
            if capabilities:
                info.pax_headers = {CAPABILITY_XATTR: ""}
            yield info, None


class LayerScans:
    """The records of a store (``directory``), or none at all (``None``)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    @classmethod
    def of_store(cls, store_root: Path) -> LayerScans:
        """The records the store at ``store_root`` keeps (the directory may not exist yet)."""
        return cls(store_root / "state" / SCANS_DIR)

    def _path(self, digest: str) -> Path | None:
        if self.directory is None or not is_digest(digest):
            return None
        return self.directory / f"{hex_of(digest)}.json"

    def load(self, digest: str) -> LayerScan | None:
        path = self._path(digest)
        if path is None:
            return None
        try:
            data = json.loads(path.read_bytes())
            if data.get("format") != SCAN_FORMAT or data.get("layer") != digest:
                return None
            return _decode(data)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def save(self, digest: str, scan: LayerScan) -> None:
        path = self._path(digest)
        if path is None:
            return
        document = {"format": SCAN_FORMAT, "layer": digest, **_encode(scan)}
        with contextlib.suppress(OSError, StoreError):  # a record not kept costs time only
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write_bytes(path, json.dumps(document, separators=(",", ":")).encode())

    def prune(self, keep: Callable[[str], bool]) -> int:
        """Delete the records of the layers ``keep`` (given a digest) refuses; how many."""
        if self.directory is None or not self.directory.is_dir():
            return 0
        dropped = 0
        for path in self.directory.glob("*.json"):
            if not keep(f"sha256:{path.stem}"):
                path.unlink(missing_ok=True)
                dropped += 1
        return dropped


def _encode(scan: LayerScan) -> dict[str, Any]:
    return {
        "members": scan.members,
        "hashes": scan.hashes,
        "kept": {p: base64.b64encode(d).decode("ascii") for p, d in scan.kept.items()},
        "go": {p: asdict(info) for p, info in scan.go.items()},
        "jars": {p: [asdict(a) for a in artifacts] for p, artifacts in scan.jars.items()},
    }


def _decode(data: dict[str, Any]) -> LayerScan:
    members: list[Member] = []
    for name, kind, mode, uid, gid, size, linkname, capabilities in data["members"]:
        values = (name, kind, linkname)
        numbers = (mode, uid, gid, size)
        if not all(isinstance(v, str) for v in values):
            raise TypeError("a member's name, type and link are strings")
        if not all(isinstance(n, int) for n in numbers) or len(kind) != 1:
            raise TypeError("a member's numbers are integers, its type one character")
        members.append((name, kind, mode, uid, gid, size, linkname, bool(capabilities)))
    hashes = {str(p): (str(a), str(b)) for p, (a, b) in data["hashes"].items()}
    kept = {str(p): base64.b64decode(d, validate=True) for p, d in data["kept"].items()}
    go = {str(p): _go_info(v) for p, v in data["go"].items()}
    jars = {str(p): [MavenArtifact(**a) for a in v] for p, v in data["jars"].items()}
    return LayerScan(members, hashes, kept, go, jars)


def _go_module(value: dict[str, Any] | None) -> GoModule | None:
    if value is None:
        return None
    return GoModule(
        str(value["path"]),
        str(value["version"]),
        str(value["sum"]),
        _go_module(value["replacement"]),
    )


def _go_info(value: dict[str, Any]) -> GoBuildInfo:
    deps = tuple(m for m in (_go_module(d) for d in value["deps"]) if m is not None)
    return GoBuildInfo(
        go_version=str(value["go_version"]),
        main_package=str(value["main_package"]),
        main=_go_module(value["main"]),
        deps=deps,
        settings=tuple((str(k), str(v)) for k, v in value["settings"]),
    )
