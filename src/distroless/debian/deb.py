"""Reading a .deb as a stream of layer entries, without extracting it to disk.

A .deb is an ``ar`` archive holding ``debian-binary``, ``control.tar.*`` and
``data.tar.*``.  The ``ar`` container is parsed by hand (it is tiny and must be exact about
padding and sizes); the tars go through :mod:`tarfile` after decompression.

Why a spool file: the layer writer sorts entries by path, while a compressed tar can only
be read front to back.  Holding small members in memory would grow with the package, so
the decompressed ``data.tar`` is copied once into an anonymous temporary file and every
:class:`~distroless.layers.entry.Entry` opener reads its member from that file by offset
(with ``pread``, so openers may be used in any order and even concurrently).  Memory stays
constant whatever the size of the package; the temporary file disappears when the last
entry referencing it is dropped.

Maintainer scripts are never run: only ``control`` and ``md5sums`` are read from the
control archive.  For merged-/usr distributions (Debian 13) paths under ``/bin``, ``/sbin``
and ``/lib*`` are moved under ``/usr`` and symlink targets are rewritten to match; the
root links themselves come from base-files.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from distroless.debian.deb822 import Paragraph, parse_paragraph
from distroless.errors import ArchiveError
from distroless.layers.compress import DECOMPRESS_ERRORS, Codec, open_decompressor
from distroless.layers.entry import Entry, EntryMeta, EntryType, normalize_path
from distroless.layers.reader import DEFAULT_LIMITS, Limits, bounded_tarinfo
from distroless.layers.tarwriter import sort_key

AR_MAGIC = b"!<arch>\n"
AR_HEADER_SIZE = 60
CHUNK = 1 << 20

#: Top-level directories that merged-/usr moves under ``/usr``.
MERGED_USR_DIRS = frozenset({"bin", "sbin", "lib", "lib32", "lib64", "libx32"})

#: Limits that stop hostile archives from exhausting memory or disk.
MAX_CONTROL_MEMBER = 16 << 20
MAX_DATA_SIZE = 64 << 30

STATUS_LINE = "Status: install ok installed"

#: What a corrupt compressed member raises from inside the decompressors and tarfile.
_CORRUPT: tuple[type[BaseException], ...] = (tarfile.TarError, OSError, *DECOMPRESS_ERRORS)


@dataclass(frozen=True)
class ArMember:
    """One member of an ``ar`` archive: its name, size and where its data starts."""

    name: str
    size: int
    offset: int


class _LimitedReader(io.RawIOBase):
    """Reads at most ``size`` bytes from ``source``; the view of one archive member."""

    def __init__(self, source: BinaryIO, size: int, what: str) -> None:
        self._source = source
        self._left = size
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        want = min(len(buffer), self._left)
        data = self._source.read(want)
        if not data:
            raise ArchiveError(f"{self._what} is truncated")
        n = len(data)
        buffer[:n] = data
        self._left -= n
        return n


def iter_ar(stream: BinaryIO, what: str) -> Iterator[tuple[ArMember, BinaryIO]]:
    """Yield each member of an ``ar`` archive with a reader over its data.

    A member's reader is only valid until the next member is requested; whatever the
    caller did not read is skipped.
    """
    if stream.read(len(AR_MAGIC)) != AR_MAGIC:
        raise ArchiveError(f"{what} is not an ar archive (bad global header)")
    offset = len(AR_MAGIC)
    while True:
        header = stream.read(AR_HEADER_SIZE)
        if not header:
            return
        if len(header) != AR_HEADER_SIZE or header[58:60] != b"`\n":
            raise ArchiveError(f"{what} has a malformed ar member header at offset {offset}")
        name = header[0:16].decode("ascii", "replace").rstrip(" ")
        if name.endswith("/") and name != "/":
            name = name[:-1]
        try:
            size = int(header[48:58].decode("ascii").strip() or "-1")
        except ValueError:
            size = -1
        if size < 0:
            raise ArchiveError(f"{what} has an invalid size for ar member {name!r}")
        offset += AR_HEADER_SIZE
        member = ArMember(name, size, offset)
        reader = _LimitedReader(stream, size, f"{what} member {name!r}")
        yield member, io.BufferedReader(reader, CHUNK)
        while reader.read(CHUNK):
            pass
        offset += size
        if size % 2:
            if stream.read(1) not in (b"\n", b""):
                raise ArchiveError(f"{what} has bad padding after ar member {name!r}")
            offset += 1


#: the codec of each member name ending dpkg accepts
_CODECS: dict[str, Codec] = {
    ".tar": "none",
    ".tar.gz": "gzip",
    ".tar.xz": "xz",
    ".tar.bz2": "bzip2",
    ".tar.zst": "zstd",
}


def _decompressor(name: str, raw: BinaryIO, what: str) -> BinaryIO:
    """Wrap ``raw`` in the decompressor its member name asks for."""
    for ending, codec in _CODECS.items():
        if name.endswith(ending):
            return open_decompressor(raw, codec)
    raise ArchiveError(f"{what} has an unsupported member {name!r}")


@dataclass(frozen=True)
class ControlData:
    """What is kept from ``control.tar``: the control paragraph text and md5sums."""

    control: str
    md5sums: str


def _read_control_tar(stream: BinaryIO, what: str, limits: Limits = DEFAULT_LIMITS) -> ControlData:
    control: str | None = None
    md5sums = ""
    count = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=bounded_tarinfo(limits)) as tar:
            for info in tar:
                count += 1
                if count > limits.max_entries:
                    raise ArchiveError(
                        f"{what}: control archive has more than {limits.max_entries} entries"
                    )
                name = posixpath.normpath(info.name.lstrip("./") or ".")
                if name not in ("control", "md5sums") or not info.isfile():
                    continue
                if info.size > MAX_CONTROL_MEMBER:
                    raise ArchiveError(f"{what}: control member {name!r} is too large")
                fileobj = tar.extractfile(info)
                assert fileobj is not None
                text = fileobj.read().decode("utf-8", "replace")
                if name == "control":
                    control = text
                else:
                    md5sums = text
    except _CORRUPT as exc:
        raise ArchiveError(f"{what}: control archive is corrupt ({exc})") from exc
    except ArchiveError as exc:
        if str(exc).startswith(what):
            raise
        raise ArchiveError(f"{what}: control archive: {exc}") from exc
    if control is None or not control.strip():
        raise ArchiveError(f"{what}: control archive has no control file")
    return ControlData(control, md5sums)


def read_control_data(path: Path) -> ControlData:
    """The control paragraph text and md5sums of the .deb at ``path``."""
    what = str(path)
    with path.open("rb") as raw:
        for member, reader in iter_ar(raw, what):
            if member.name.startswith("control.tar"):
                return _read_control_tar(_decompressor(member.name, reader, what), what)
    raise ArchiveError(f"{what} has no control.tar member")


def read_control(path: Path) -> Paragraph:
    """The control paragraph of the .deb at ``path``."""
    return parse_paragraph(read_control_data(path).control, f"{path}:control")


def _control_field(control: str, field: str) -> str | None:
    prefix = field.lower() + ":"
    for line in control.splitlines():
        if line.lower().startswith(prefix):
            return line[len(prefix) :].strip()
    return None


def status_text(control: str, fields: Sequence[tuple[str, str]] = ()) -> str:
    """The ``status.d`` paragraph: the control paragraph with an installed ``Status``.

    ``fields`` are appended (a build's own notes, such as the dependencies it left
    unsatisfied on purpose); dpkg and scanners keep fields they do not know.
    """
    lines = [line for line in control.strip("\n").split("\n") if line.strip()]
    lines = [line for line in lines if not line.lower().startswith("status:")]
    at = 1 if lines and lines[0].lower().startswith("package:") else 0
    lines.insert(at, STATUS_LINE)
    lines.extend(f"{name}: {value}" for name, value in fields)
    return "\n".join(lines) + "\n"


def merged_usr_path(path: str) -> str:
    """``bin/x`` -> ``usr/bin/x`` for the merged-/usr directories; other paths unchanged."""
    top, _, _rest = path.partition("/")
    if top in MERGED_USR_DIRS:
        return "usr/" + path
    return path


def _rewrite_md5sums(md5sums: str, rewrite: Callable[[str], str]) -> str:
    out = []
    for line in md5sums.splitlines():
        digest, sep, name = line.partition("  ")
        if sep and name:
            out.append(f"{digest}  {rewrite(name)}")
        elif line.strip():
            out.append(line)
    return "".join(line + "\n" for line in out)


class _SpoolSlice(io.RawIOBase):
    """A reader over ``size`` bytes at ``offset`` in a shared spool file, via ``pread``."""

    def __init__(self, spool: BinaryIO, offset: int, size: int) -> None:
        self._spool = spool  # keeps the spool file alive while this reader exists
        self._fd = spool.fileno()
        self._pos = offset
        self._end = offset + size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._end - self._pos)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._pos)
        if not data:
            raise ArchiveError("spooled package data ended early")
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _opener(spool: BinaryIO, offset: int, size: int) -> Callable[[], BinaryIO]:
    def open_member() -> BinaryIO:
        return io.BufferedReader(_SpoolSlice(spool, offset, size), CHUNK)

    return open_member


def _spool_data(stream: BinaryIO, what: str, max_size: int, spool_dir: Path | None) -> BinaryIO:
    spool: BinaryIO = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - lives as long as the entries
    total = 0
    try:
        while chunk := stream.read(CHUNK):
            total += len(chunk)
            if total > max_size:
                raise ArchiveError(f"{what}: data archive is larger than {max_size} bytes")
            spool.write(chunk)
        spool.flush()
    except _CORRUPT as exc:
        spool.close()
        raise ArchiveError(f"{what}: data archive is corrupt ({exc})") from exc
    except BaseException:
        spool.close()
        raise
    return spool


def _rewrite_link(target: str, old_path: str, new_path: str, rewrite: Callable[[str], str]) -> str:
    """Symlink target after the link and the files it points to moved under ``/usr``."""
    if target.startswith("/"):
        inner = posixpath.normpath(target).lstrip("/")
        if not inner or inner == ".":
            return target
        moved = rewrite(inner)
        return target if moved == inner else "/" + moved
    resolved = posixpath.normpath(posixpath.join("/", posixpath.dirname(old_path), target))
    inner = resolved.lstrip("/")
    moved = rewrite(inner) if inner else inner
    if moved == inner and new_path == old_path:
        return target
    return posixpath.relpath("/" + moved, "/" + (posixpath.dirname(new_path) or "."))


def _data_members(spool: BinaryIO, what: str, limits: Limits) -> list[tarfile.TarInfo]:
    """The data archive's members, refusing oversized headers and too many entries."""
    members: list[tarfile.TarInfo] = []
    spool.seek(0)
    try:
        with tarfile.open(fileobj=spool, mode="r:", tarinfo=bounded_tarinfo(limits)) as tar:
            for info in tar:
                members.append(info)
                if len(members) > limits.max_entries:
                    raise ArchiveError(
                        f"{what}: data archive has more than {limits.max_entries} entries"
                    )
                if len(info.name) > limits.max_name_length or len(info.linkname) > (
                    limits.max_name_length
                ):
                    raise ArchiveError(
                        f"{what}: member {info.name[:80]!r}...: name longer than "
                        f"{limits.max_name_length} characters"
                    )
    except _CORRUPT as exc:
        raise ArchiveError(f"{what}: data archive is corrupt ({exc})") from exc
    except ArchiveError as exc:
        if str(exc).startswith(what):
            raise
        raise ArchiveError(f"{what}: data archive: {exc}") from exc
    return members


def _data_entries(
    spool: BinaryIO, what: str, rewrite: Callable[[str], str], limits: Limits = DEFAULT_LIMITS
) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    members = _data_members(spool, what, limits)
    for info in members:
        raw_name = info.name
        if raw_name in ("", ".", "./"):
            continue
        if ".." in raw_name.split("/"):
            raise ArchiveError(f"{what}: member {raw_name!r} escapes the root")
        try:
            old_path = normalize_path(raw_name)
        except ArchiveError as exc:
            raise ArchiveError(f"{what}: {exc}") from exc
        if old_path.split("/")[0] in MERGED_USR_DIRS and "/" not in old_path and info.issym():
            new_path = old_path  # the root links themselves (shipped by base-files)
        else:
            new_path = rewrite(old_path)
        mode = info.mode & 0o7777
        common: EntryMeta = {
            "mode": mode,
            "uid": info.uid,
            "gid": info.gid,
            "mtime": int(info.mtime),
        }
        if info.isdir():
            entry = Entry(new_path, EntryType.DIR, **common)
        elif info.isreg():
            entry = Entry(
                new_path,
                EntryType.FILE,
                size=info.size,
                opener=_opener(spool, info.offset_data, info.size),
                **common,
            )
        elif info.issym():
            linkname = _rewrite_link(info.linkname, old_path, new_path, rewrite)
            entry = Entry(new_path, EntryType.SYMLINK, linkname=linkname, **common)
        elif info.islnk():
            if ".." in info.linkname.split("/"):
                raise ArchiveError(f"{what}: hard link {raw_name!r} escapes the root")
            try:
                target = rewrite(normalize_path(info.linkname))
            except ArchiveError as exc:
                raise ArchiveError(f"{what}: hard link {raw_name!r}: {exc}") from exc
            entry = Entry(new_path, EntryType.HARDLINK, linkname=target, **common)
        elif info.ischr() or info.isblk():
            raise ArchiveError(f"{what}: refuses device node {raw_name!r}")
        elif info.isfifo():
            entry = Entry(new_path, EntryType.FIFO, **common)
        else:
            raise ArchiveError(f"{what}: unsupported tar member type for {raw_name!r}")
        previous = entries.get(new_path)
        if previous is not None:
            if previous.type is EntryType.DIR and entry.type is EntryType.DIR:
                continue
            raise ArchiveError(f"{what}: path {new_path!r} appears twice")
        entries[new_path] = entry
    for path, item in entries.items():
        if item.type is EntryType.HARDLINK:
            linked = entries.get(item.linkname)
            if linked is None or linked.type is not EntryType.FILE:
                raise ArchiveError(f"{what}: hard link {path!r} points outside the package")
    return entries


def deb_entries(
    path: Path,
    *,
    merged_usr: bool,
    package_name: str | None = None,
    max_data_size: int = MAX_DATA_SIZE,
    spool_dir: Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
    status_fields: Sequence[tuple[str, str]] = (),
) -> Iterator[Entry]:
    """Yield the layer entries of the .deb at ``path``, sorted by path (bytewise).

    File contents are read from an anonymous spool file in ``spool_dir`` (the system
    temporary directory by default), which lives as long as any yielded entry.

    The entries are the package's files plus ``var/lib/dpkg/status.d/<pkg>`` and
    ``<pkg>.md5sums``.  Raises :class:`ArchiveError` for malformed or hostile archives
    (path escapes, device nodes, oversized or truncated members).  The decompressed data
    archive may hold at most ``max_data_size`` and ``limits.max_total_bytes`` bytes, so a
    decompression bomb is stopped at that size; ``limits`` also bounds headers and entries.
    """
    what = str(path)
    control: ControlData | None = None
    spool: BinaryIO | None = None
    seen_binary = False
    try:
        with path.open("rb") as raw:
            for member, reader in iter_ar(raw, what):
                if member.name == "debian-binary":
                    version = reader.read(64).decode("ascii", "replace").strip()
                    if not version.startswith("2."):
                        raise ArchiveError(f"{what}: unsupported .deb format {version!r}")
                    seen_binary = True
                elif member.name.startswith("control.tar"):
                    control = _read_control_tar(
                        _decompressor(member.name, reader, what), what, limits
                    )
                elif member.name.startswith("data.tar"):
                    if spool is not None:
                        raise ArchiveError(f"{what} has more than one data archive")
                    spool = _spool_data(
                        _decompressor(member.name, reader, what),
                        what,
                        min(max_data_size, limits.max_total_bytes),
                        spool_dir,
                    )
        if not seen_binary or control is None or spool is None:
            raise ArchiveError(f"{what} is not a .deb (debian-binary, control or data missing)")
        rewrite: Callable[[str], str] = merged_usr_path if merged_usr else (lambda p: p)
        entries = _data_entries(spool, what, rewrite, limits)
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    name = package_name or _control_field(control.control, "Package")
    if not name or "/" in name or name.startswith("."):
        raise ArchiveError(f"{what}: control file has no usable Package name")
    status_dir = "var/lib/dpkg/status.d"
    status = Entry.file(
        f"{status_dir}/{name}", status_text(control.control, status_fields).encode()
    )
    md5 = Entry.file(
        f"{status_dir}/{name}.md5sums", _rewrite_md5sums(control.md5sums, rewrite).encode()
    )
    for extra in (status, md5):
        if extra.path in entries:
            raise ArchiveError(f"{what}: package ships its own {extra.path!r}")
        entries[extra.path] = extra
    for key in sorted(entries, key=sort_key):
        yield entries[key]
