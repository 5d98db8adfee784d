"""The record of one unpacked layer: what ``fsck`` holds the layer cache against.

When a layer is unpacked into the cache, every path of the result is written down with
its type, mode, owner, time, extended attributes, link target and the sha256 of its
content (hashed while it was written, so nothing is read twice).  ``fsck`` walks the
directory again in the same order and compares line by line: a changed byte, a new
set-uid bit, an added file or capability means the directory is no longer what the
verified blob unpacked to, and it is removed so the next ``run`` unpacks it afresh.

Device nodes of a layer are never created on the host.  Each one is kept as a mode-0 FIFO
at its path (so later entries of the same layer replace or trip over it exactly as they
would over the node, and nothing that opens it reaches a device) and described in the
record's first line;
the runtime creates the real node for a container only, in its private state (see
:func:`distroless.runtime.rootfs.container_rootfs`).

The file is JSON lines: a header ``{"version", "layer", "devices"}``, then one object per
path in depth-first order of sorted names, the root first.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

INDEX_VERSION = 1
_HASH_CHUNK = 1 << 20

Record = dict[str, Any]
_TIMED = frozenset({"file", "symlink", "fifo"})


@dataclass(frozen=True)
class DeviceNode:
    """A device node of a layer, created only inside a container."""

    path: str  # relative to the layer root, symlink-free, no leading slash
    kind: Literal["char", "block"]
    major: int
    minor: int
    mode: int
    uid: int
    gid: int
    mtime: int

    @property
    def file_type(self) -> int:
        return stat.S_IFCHR if self.kind == "char" else stat.S_IFBLK

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeviceNode:
        kind = data["kind"]
        if kind not in ("char", "block"):
            raise ValueError(f"unknown device kind {kind!r}")
        return cls(
            path=str(data["path"]),
            kind=kind,
            major=int(data["major"]),
            minor=int(data["minor"]),
            mode=int(data["mode"]),
            uid=int(data["uid"]),
            gid=int(data["gid"]),
            mtime=int(data["mtime"]),
        )


def is_placeholder(st: os.stat_result) -> bool:
    """A mode-0 FIFO: what a device entry leaves in the cache."""
    return stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _xattrs(path: Path) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out: dict[str, str] = {}
    for name in sorted(names):
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False).hex()
        except OSError:
            continue
    return out


def _walk(root: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Every path under ``root`` (the root itself first), depth first, names sorted."""
    stack: list[tuple[str, Path]] = [("", root)]
    while stack:
        rel, path = stack.pop()
        st = os.lstat(path)
        yield rel, path, st
        if stat.S_ISDIR(st.st_mode):
            names = sorted(os.listdir(path), reverse=True)
            stack.extend((f"{rel}/{n}" if rel else n, path / n) for n in names)


def tree_records(
    root: Path,
    devices: Mapping[str, DeviceNode],
    digest_of: Callable[[Path, os.stat_result], str],
) -> Iterator[Record]:
    """One record per path under ``root``; ``digest_of`` gives a regular file's sha256."""
    for rel, path, st in _walk(root):
        record: Record = {"p": rel, "m": stat.S_IMODE(st.st_mode), "u": st.st_uid, "g": st.st_gid}
        node = devices.get(rel)
        if node is not None and is_placeholder(st):
            record["t"] = node.kind
            record["dev"] = [node.major, node.minor]
        elif stat.S_ISDIR(st.st_mode):
            record["t"] = "dir"
        elif stat.S_ISREG(st.st_mode):
            record["t"] = "file"
            record["s"] = st.st_size
            record["h"] = digest_of(path, st)
        elif stat.S_ISLNK(st.st_mode):
            record["t"] = "symlink"
            record["l"] = os.readlink(path)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            # only overlay whiteouts (0/0) are real nodes in the cache
            record["t"] = "char-node" if stat.S_ISCHR(st.st_mode) else "block-node"
            record["r"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
        elif stat.S_ISFIFO(st.st_mode):
            record["t"] = "fifo"
        else:
            record["t"] = "other"
        if record["t"] in _TIMED:
            # Times the layer sets.  Directories and whiteouts are left out: the ones an
            # unpack creates implicitly get the time of that unpack, and the record must
            # be the same for every unpack of the same blob (two may race to the cache).
            record["mt"] = st.st_mtime_ns
        xattrs = _xattrs(path) if not stat.S_ISLNK(st.st_mode) else {}
        if xattrs:
            record["x"] = xattrs
        yield record


def _dumps(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write_index(
    tree: Path,
    dest: Path,
    layer: str,
    devices: list[DeviceNode],
    digests: Mapping[tuple[int, int], str],
) -> None:
    """Record ``tree`` (just unpacked from ``layer``) in the new file ``dest``.

    ``digests`` maps ``(st_dev, st_ino)`` of each regular file to the sha256 computed
    while it was written; a file missing from it is hashed now.
    """

    def digest_of(path: Path, st: os.stat_result) -> str:
        known = digests.get((st.st_dev, st.st_ino))
        return known if known is not None else sha256_of(path)

    by_path = {d.path: d for d in devices}
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(dest, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as out:
        header = {
            "version": INDEX_VERSION,
            "layer": layer,
            "devices": [d.to_json() for d in devices],
        }
        out.write(_dumps(header) + "\n")
        for record in tree_records(tree, by_path, digest_of):
            out.write(_dumps(record) + "\n")


class RecordError(ValueError):
    """The record file itself is unreadable (truncated, or not written by us)."""


def read_header(index: Path) -> dict[str, Any]:
    with index.open("r", encoding="utf-8", errors="surrogateescape") as fh:
        line = fh.readline()
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise RecordError(f"unreadable header ({exc})") from None
    if not isinstance(header, dict) or header.get("version") != INDEX_VERSION:
        raise RecordError("not a version 1 record")
    return header


def read_devices(index: Path) -> list[DeviceNode]:
    """The device nodes recorded for the unpacked layer of ``index``."""
    header = read_header(index)
    try:
        return [DeviceNode.from_json(d) for d in header.get("devices") or []]
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"bad device list ({exc})") from None


def _describe(expected: Record | None, actual: Record | None) -> str:
    if expected is None:
        assert actual is not None
        return f"/{actual['p']} was added"
    if actual is None:
        return f"/{expected['p']} is missing"
    if expected["p"] != actual["p"]:
        # both walks are depth first over sorted names: component order decides
        if actual["p"].split("/") < expected["p"].split("/"):
            return f"/{actual['p']} was added"
        return f"/{expected['p']} is missing"
    changed = sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))
    names = {"t": "type", "m": "mode", "u": "owner", "g": "group", "mt": "mtime", "s": "size",
             "h": "content", "l": "link target", "r": "device number", "dev": "device",
             "x": "extended attributes"}  # fmt: skip
    what = ", ".join(dict.fromkeys(names.get(k, k) for k in changed))
    return f"/{expected['p'] or ''} changed ({what})"


def verify_tree(tree: Path, index: Path) -> str | None:
    """``None`` when ``tree`` is exactly what ``index`` records, else the first difference."""
    try:
        devices = {d.path: d for d in read_devices(index)}
    except (OSError, RecordError) as exc:
        return f"its record cannot be read ({exc})"

    def digest_of(path: Path, st: os.stat_result) -> str:
        return sha256_of(path)

    actual_records = tree_records(tree, devices, digest_of)
    with index.open("r", encoding="utf-8", errors="surrogateescape") as fh:
        fh.readline()  # the header
        for line in fh:
            try:
                expected: Record = json.loads(line)
            except ValueError:
                return "its record is damaged"
            actual = next(actual_records, None)
            if actual != expected:
                return _describe(expected, actual)
    extra = next(actual_records, None)
    if extra is not None:
        return _describe(None, extra)
    return None
