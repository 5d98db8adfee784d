from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from distroless.errors import ArchiveError, InputError, StoreError
from distroless.layers.build import write_layer
from distroless.layers.entry import Entry, EntryType
from distroless.layers.reader import parse_size
from distroless.runtime.rootfs import LayerCache, container_rootfs, merge_copy, with_device_layers
from distroless.runtime.unpack import OPAQUE_XATTR, unpack_layer
from tests.helpers.rawtar import Member, tar_of
from tests.helpers.require import require_root


def _layer(entries: list[Entry], compression: str = "gzip") -> io.BytesIO:
    buf = io.BytesIO()
    write_layer(entries, buf, compression)  # type: ignore[arg-type]
    buf.seek(0)
    return buf


def _raw_tar(members: list[Member]) -> io.BytesIO:
    return io.BytesIO(tar_of(members))


def _is_whiteout(path: Path) -> bool:
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_unpack_files_links_and_metadata(tmp_path: Path, compression: str) -> None:
    require_root()
    entries = [
        Entry.file("usr/bin/app", b"binary", mode=0o4755, uid=7, gid=8),
        Entry.symlink("usr/bin/alias", "app"),
        Entry(path="usr/bin/hard", type=EntryType.HARDLINK, linkname="usr/bin/app"),
        Entry.directory("home/user", mode=0o700, uid=1000, gid=1000),
    ]
    unpack_layer(_layer(entries, compression), tmp_path)
    app = tmp_path / "usr/bin/app"
    st = os.lstat(app)
    assert app.read_bytes() == b"binary"
    assert stat.S_IMODE(st.st_mode) == 0o4755  # setuid survives the chown
    assert (st.st_uid, st.st_gid) == (7, 8)
    assert os.readlink(tmp_path / "usr/bin/alias") == "app"
    assert os.lstat(tmp_path / "usr/bin/hard").st_ino == st.st_ino
    home = os.lstat(tmp_path / "home/user")
    assert (stat.S_IMODE(home.st_mode), home.st_uid) == (0o700, 1000)


def test_whiteouts_become_overlay_whiteouts(tmp_path: Path) -> None:
    require_root()
    entries = [Entry.whiteout("etc/gone"), Entry.directory("var/cache"), Entry.opaque("var/cache")]
    unpack_layer(_layer(entries), tmp_path)
    assert _is_whiteout(tmp_path / "etc/gone")
    assert not (tmp_path / "etc/.wh.gone").exists()
    assert os.getxattr(tmp_path / "var/cache", OPAQUE_XATTR) == b"y"
    assert not (tmp_path / "var/cache/.wh..wh..opq").exists()


def test_dotdot_entries_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(ArchiveError, match=r"'\.\./\.\./evil' climbs out"):
        unpack_layer(_raw_tar([Member("../../evil", data=b"x")]), target)
    assert not (tmp_path / "evil").exists()
    assert list(target.iterdir()) == []


def test_writing_through_a_symlinked_parent_stays_inside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "t"
    target.mkdir()
    link = Member("sub", tarfile.SYMTYPE, linkname=str(outside))
    unpack_layer(_raw_tar([link, Member("sub/file", data=b"pwned")]), target)
    assert list(outside.iterdir()) == []
    # the absolute link starts again at the layer's root, as inside the container
    assert (target / str(outside).lstrip("/") / "file").read_bytes() == b"pwned"


def test_hardlink_to_missing_target_is_refused(tmp_path: Path) -> None:
    link = Member("a", tarfile.LNKTYPE, linkname="etc/shadow")
    with pytest.raises(ArchiveError, match="'a': hardlink target 'etc/shadow' is missing"):
        unpack_layer(_raw_tar([link]), tmp_path)


def test_corrupt_layer_is_an_archive_error(tmp_path: Path) -> None:
    data = _layer([Entry.file("a", b"x" * 1000)]).getvalue()
    with pytest.raises(ArchiveError):
        unpack_layer(io.BytesIO(data[: len(data) // 2]), tmp_path)


class _Blobs:
    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs
        self.opened = 0

    def open_blob(self, digest: str) -> io.BytesIO:
        self.opened += 1
        return io.BytesIO(self.blobs[digest])


def test_layer_cache_unpacks_once_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    good = "sha256:" + "a" * 64
    bad = "sha256:" + "b" * 64
    blobs = _Blobs({good: _layer([Entry.file("x", b"1")]).getvalue(), bad: b"\x1f\x8bgarbage"})
    cache = LayerCache(tmp_path / "layers")
    first = cache.ensure(good, blobs)
    assert (first / "x").read_bytes() == b"1"
    assert cache.ensure(good, blobs) == first
    assert blobs.opened == 1
    with pytest.raises(ArchiveError):
        cache.ensure(bad, blobs)
    assert sorted(p.name for p in (tmp_path / "layers").iterdir()) == [
        "a" * 64,
        "a" * 64 + ".index",
        "lock",
    ]


def test_merge_copy_applies_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    require_root()
    low, high, out = tmp_path / "low", tmp_path / "high", tmp_path / "out"
    for d in (low, high, out):
        d.mkdir()
    unpack_layer(
        _layer([Entry.file("keep", b"k"), Entry.file("gone", b"g"), Entry.file("d/old", b"o"),
                Entry.file("over", b"1")]),
        low,
    )  # fmt: skip
    unpack_layer(
        _layer([Entry.whiteout("gone"), Entry.directory("d"), Entry.opaque("d"),
                Entry.file("d/new", b"n"), Entry.file("over", b"2", mode=0o600)]),
        high,
    )  # fmt: skip
    merge_copy([low, high], out)
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert names == ["d", "d/new", "keep", "over"]
    assert (out / "over").read_bytes() == b"2"
    assert stat.S_IMODE(os.lstat(out / "over").st_mode) == 0o600


def test_layer_cache_prune_keeps_only_wanted_layers(tmp_path: Path) -> None:
    keep, drop = "sha256:" + "c" * 64, "sha256:" + "d" * 64
    layer = _layer([Entry.file("x", b"1")]).getvalue()
    cache = LayerCache(tmp_path / "layers")
    blobs = _Blobs({keep: layer, drop: layer})
    cache.ensure(keep, blobs)
    cache.ensure(drop, blobs)
    (tmp_path / "layers" / ".tmp-partial").mkdir()
    (tmp_path / "layers" / ".tmp-partial.index").write_text("")
    (tmp_path / "layers" / ("e" * 64)).mkdir()  # no record: left by an older version
    result = cache.prune(lambda digest: digest in (keep, "sha256:" + "e" * 64))
    assert result.layers == 3
    assert sorted(p.name for p in (tmp_path / "layers").iterdir()) == [
        "c" * 64,
        "c" * 64 + ".index",
        "lock",
    ]


def test_limits_bound_a_hostile_layer(tmp_path: Path) -> None:
    from distroless.layers.reader import Limits

    layer = _layer([Entry.file("a", b"1"), Entry.file("b", b"2")])
    with pytest.raises(ArchiveError, match="more than 1 entries"):
        unpack_layer(layer, tmp_path, what="layer L", limits=Limits(max_entries=1))


def _nodes_in(root: Path) -> list[str]:
    """Device nodes under ``root`` other than overlay whiteouts (0/0)."""
    found = []
    for path in root.rglob("*"):
        st = os.lstat(path)
        if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and st.st_rdev != 0:
            found.append(str(path.relative_to(root)))
    return found


def _device(name: str, kind: bytes, major: int, minor: int, mode: int = 0o666) -> Member:
    return Member(name, kind, mode=mode, mtime=1234, devmajor=major, devminor=minor)


def test_device_nodes_are_recorded_not_created(tmp_path: Path) -> None:
    layer = _raw_tar(
        [
            _device("dev/null", tarfile.CHRTYPE, 1, 3),
            _device("dev/sda", tarfile.BLKTYPE, 8, 0, 0o660),
            Member("dev/also-null", tarfile.LNKTYPE, linkname="dev/null"),
            _device("dev/replaced", tarfile.CHRTYPE, 1, 5),
            Member("dev/replaced", data=b"now a file"),
        ]
    )
    result = unpack_layer(layer, tmp_path)
    assert _nodes_in(tmp_path) == []
    assert [(d.path, d.kind, d.major, d.minor, d.mode, d.mtime) for d in result.devices] == [
        ("dev/also-null", "char", 1, 3, 0o666, 1234),
        ("dev/null", "char", 1, 3, 0o666, 1234),
        ("dev/sda", "block", 8, 0, 0o660, 1234),
    ]
    placeholder = os.lstat(tmp_path / "dev/sda")
    assert stat.S_ISFIFO(placeholder.st_mode) and stat.S_IMODE(placeholder.st_mode) == 0
    assert (tmp_path / "dev/replaced").read_bytes() == b"now a file"


def test_overlay_and_security_xattrs_of_a_layer_are_dropped(tmp_path: Path) -> None:
    require_root()
    pax = {
        "SCHILY.xattr.trusted.overlay.redirect": "/elsewhere",
        "SCHILY.xattr.trusted.overlay.opaque": "y",
        "SCHILY.xattr.user.note": "kept",
        # what overlayfs reads instead of trusted.overlay.* when mounted rootless
        "SCHILY.xattr.user.overlay.opaque": "y",
        "SCHILY.xattr.user.overlay.redirect": "/elsewhere",
    }
    unpack_layer(_raw_tar([Member("d", tarfile.DIRTYPE, pax=pax)]), tmp_path)
    assert os.listxattr(tmp_path / "d") == ["user.note"]


def _cache_with(tmp_path: Path, entries: list[Entry]) -> tuple[LayerCache, str, _Blobs, Path]:
    digest = "sha256:" + "f" * 64
    blobs = _Blobs({digest: _layer(entries).getvalue()})
    cache = LayerCache(tmp_path / "layers")
    return cache, digest, blobs, cache.ensure(digest, blobs)


def test_a_fresh_cache_verifies_clean(tmp_path: Path) -> None:
    cache, _, _, tree = _cache_with(
        tmp_path,
        [Entry.file("usr/bin/app", b"elf", mode=0o755), Entry.symlink("bin", "usr/bin"),
         Entry.whiteout("etc/gone"), Entry.directory("var/cache"), Entry.opaque("var/cache")],
    )  # fmt: skip
    assert cache.verify() == []
    assert tree.is_dir()


@pytest.mark.parametrize(
    ("tamper", "what"),
    [
        (lambda t: (t / "usr/bin/app").write_bytes(b"evil"), r"/usr/bin/app changed \(.*content"),
        (lambda t: os.chmod(t / "usr/bin/app", 0o4755), r"/usr/bin/app changed \(mode\)"),
        (lambda t: (t / "usr/bin/extra").write_bytes(b""), "/usr/bin/extra was added"),
        (lambda t: (t / "usr/bin/app").unlink(), "/usr/bin/app is missing"),
        (
            lambda t: os.setxattr(t / "usr/bin/app", "user.x", b"1"),
            r"/usr/bin/app changed \(extended attributes\)",
        ),
    ],
)
def test_a_tampered_layer_is_reported_and_removed(
    tmp_path: Path, tamper: Callable[[Path], object], what: str
) -> None:
    cache, digest, blobs, tree = _cache_with(
        tmp_path, [Entry.file("usr/bin/app", b"elf", mode=0o755)]
    )
    tamper(tree)
    problems = cache.verify()
    assert len(problems) == 1
    assert re.search(rf"unpacked layer {digest} differs from its record: {what}", problems[0])
    assert not tree.exists()
    assert not cache.index_for(digest).exists()
    again = cache.ensure(digest, blobs)  # the next run unpacks the verified blob again
    assert (again / "usr/bin/app").read_bytes() == b"elf"
    assert stat.S_IMODE(os.lstat(again / "usr/bin/app").st_mode) == 0o755
    assert cache.verify() == []


def test_a_layer_without_its_record_is_unpacked_again(tmp_path: Path) -> None:
    cache, digest, blobs, tree = _cache_with(tmp_path, [Entry.file("a", b"1")])
    cache.index_for(digest).unlink()  # what an older version left: no record
    (tree / "a").write_bytes(b"stale")
    assert (cache.ensure(digest, blobs) / "a").read_bytes() == b"1"
    assert blobs.opened == 2


def test_device_layer_sits_right_above_its_layer(tmp_path: Path) -> None:
    require_root()
    cache = LayerCache(tmp_path / "layers")
    low = "sha256:" + "1" * 64
    high = "sha256:" + "2" * 64
    parent = Member("opt/devs", tarfile.DIRTYPE, mode=0o710, uid=7, mtime=99)
    blobs = _Blobs(
        {
            low: tar_of([parent, _device("opt/devs/null", tarfile.CHRTYPE, 1, 3)]),
            high: _layer([Entry.file("other", b"x")]).getvalue(),
        }
    )
    lowers = cache.ensure_all([low, high], blobs)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    stack = with_device_layers(lowers, state)
    assert stack[0] == lowers[0] and stack[2] == lowers[1]
    holder = stack[1]
    node = os.lstat(holder / "opt/devs/null")
    assert stat.S_ISCHR(node.st_mode) and node.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(node.st_mode) == 0o666
    devs = os.lstat(holder / "opt/devs")  # the parent keeps the layer's own metadata
    assert (stat.S_IMODE(devs.st_mode), devs.st_uid, devs.st_mtime) == (0o710, 7, 99)
    out = tmp_path / "out"
    out.mkdir()
    merge_copy(stack, out)
    merged = os.lstat(out / "opt/devs/null")
    assert stat.S_ISCHR(merged.st_mode) and merged.st_rdev == os.makedev(1, 3)
    assert _nodes_in(tmp_path / "layers") == []


def test_a_layer_in_use_by_a_mounted_overlay_is_not_pruned(tmp_path: Path) -> None:
    require_root()
    cache, _, _, tree = _cache_with(tmp_path, [Entry.file("a", b"1")])
    state = tmp_path / "state"
    state.mkdir()
    with container_rootfs([tree], state, use_overlay=True) as rootfs:
        assert (rootfs / "a").read_bytes() == b"1"
        assert cache.prune(lambda _digest: False).layers == 0
        assert tree.is_dir()
    assert cache.prune(lambda _digest: False).layers == 1
    assert not tree.exists()


def test_another_stores_overlay_does_not_hold_this_stores_copy(tmp_path: Path) -> None:
    """Two stores unpack the same layer; a container of one keeps only that one's copy."""
    require_root()
    cache, _, _, tree = _cache_with(tmp_path / "one", [Entry.file("a", b"1")])
    other, _, _, copy = _cache_with(tmp_path / "two", [Entry.file("a", b"1")])
    state = tmp_path / "one" / "state"
    state.mkdir()
    with container_rootfs([tree], state, use_overlay=True) as rootfs:
        assert (rootfs / "a").read_bytes() == b"1"
        assert other.prune(lambda _digest: False).layers == 1
        assert not copy.exists()
        assert cache.prune(lambda _digest: False).layers == 0
        assert tree.is_dir()


def test_cache_top_is_private_even_when_it_was_not(tmp_path: Path) -> None:
    top = tmp_path / "layers"
    top.mkdir(mode=0o755)
    os.chmod(top, 0o755)
    LayerCache(top)
    assert stat.S_IMODE(os.lstat(top).st_mode) == 0o700


def test_a_cache_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    require_root()
    top = tmp_path / "layers"
    top.mkdir()
    os.chown(top, 65534, 65534)
    with pytest.raises(StoreError, match=r"belongs to uid 65534"):
        LayerCache(top)


def test_layer_limit_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # about 32 KiB of zstd that would expand to 64 MiB of zeros
    layer = _layer([Entry("zeros", EntryType.FILE, size=64 << 20, opener=_zeros(64 << 20))],
                   "zstd")  # fmt: skip
    assert len(layer.getvalue()) < 64 << 10
    monkeypatch.setenv("DISTROLESS_MAX_LAYER_BYTES", "16MiB")
    with pytest.raises(ArchiveError, match=r"exceeds the limit of 16777216 bytes at entry 'zeros'"):
        unpack_layer(layer, tmp_path)
    assert list(tmp_path.iterdir()) == []  # refused before a byte was written
    monkeypatch.setenv("DISTROLESS_MAX_LAYER_BYTES", "lots")
    with pytest.raises(InputError, match=r"DISTROLESS_MAX_LAYER_BYTES: 'lots' is not a positive"):
        unpack_layer(io.BytesIO(layer.getvalue()), tmp_path)


def test_default_layer_limit_is_32_gib(tmp_path: Path) -> None:
    # a header announcing one byte more than 32 GiB: refused before any content is read
    info = tarfile.TarInfo("huge")
    info.size = (32 << 30) + 1
    blob = info.tobuf(format=tarfile.PAX_FORMAT) + bytes(4096)
    with pytest.raises(ArchiveError, match=r"exceeds the limit of 34359738368 bytes"):
        unpack_layer(io.BytesIO(blob), tmp_path)
    assert parse_size("32GiB", "x") == parse_size("34359738368", "x") == 32 << 30


def _zeros(size: int) -> Callable[[], BinaryIO]:
    class Zeros(io.RawIOBase):
        left = size

        def readable(self) -> bool:
            return True

        def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
            n = min(len(buf), self.left)
            buf[:n] = bytes(n)
            self.left -= n
            return n

    return lambda: cast(BinaryIO, Zeros())


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (root only), unmounted at the end."""
    require_root()
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mnt)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def test_full_disk_during_unpack_is_a_store_error(small_disk: Path) -> None:
    digest = "sha256:" + "9" * 64
    blobs = _Blobs({digest: _layer([Entry.file("big", os.urandom(6 << 20))]).getvalue()})
    cache = LayerCache(small_disk / "layers")
    with pytest.raises(StoreError, match=r"^no space left on device while writing layer sha256:"):
        cache.ensure(digest, blobs)
    assert sorted(p.name for p in (small_disk / "layers").iterdir()) == ["lock"]


def test_an_overlay_of_more_layers_than_one_mount_names_holds_them_all(tmp_path: Path) -> None:
    """150 layers, named by digests, exceed one mount's options: links name them instead,
    the one overlay keeps overlay semantics across all of them, and prune sees them used."""
    require_root()
    count = 150
    layers = {}
    for i in range(count):
        entries = [Entry.file(f"layers/{i:03d}", f"{i}\n".encode())]
        if i == count - 1:
            entries.append(Entry.whiteout("layers/000"))  # a deletion from the top layer
        layers[f"sha256:{i:064x}"] = _layer(entries).getvalue()
    blobs = _Blobs(layers)
    cache = LayerCache(tmp_path / "layers")
    trees = cache.ensure_all(list(layers), blobs)
    state = tmp_path / "state"
    state.mkdir()
    with container_rootfs(trees, state, use_overlay=True) as rootfs:
        names = sorted(os.listdir(rootfs / "layers"))
        assert names == [f"{i:03d}" for i in range(1, count)]
        assert (rootfs / "layers/001").read_text() == "1\n"
        (rootfs / "layers/007").write_text("changed\n")
        assert (state / "upper/layers/007").read_text() == "changed\n"
        assert cache.prune(lambda _digest: False).layers == 0
        assert all(tree.is_dir() for tree in trees)
    assert not _mounted_under(state)
    assert cache.prune(lambda _digest: False).layers == count


def _mounted_under(path: Path) -> bool:
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return any(line.split()[4].startswith(str(path)) for line in fh)


def _tree(root: Path) -> list[tuple[str, int, int, int, bytes | str | None]]:
    """Every path under ``root`` with its mode, owner and content or link target."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            st = os.lstat(path)
            body: bytes | str | None = None
            if stat.S_ISREG(st.st_mode):
                body = path.read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                body = os.readlink(path)
            found.append((str(path.relative_to(root)), st.st_mode, st.st_uid, st.st_gid, body))
    return sorted(found)


def _streamed_entries() -> list[Entry]:
    return [
        Entry.directory("app", mode=0o750, uid=3, gid=4),
        Entry.file("app/big", os.urandom(3 << 20)),  # more than a pipe holds
        Entry.file("app/run", b"#!/bin/true\n", mode=0o755),
        Entry.symlink("app/link", "run"),
        Entry(path="app/hard", type=EntryType.HARDLINK, linkname="app/run"),
        Entry.whiteout("gone"),
    ]


def test_tree_unpacked_while_written_is_the_tree_unpacked_from_the_blob(tmp_path: Path) -> None:
    require_root()
    streamed = LayerCache(tmp_path / "streamed")
    tree = streamed.unpack_while_written()
    buf = io.BytesIO()

    class Both:
        def write(self, data: bytes) -> int:
            tree.write(data)
            return buf.write(data)

        def flush(self) -> None:
            pass

    info = write_layer(_streamed_entries(), cast(BinaryIO, Both()), "none")
    tree.publish(info.digest)
    tree.discard()  # nothing once published
    unpacked = LayerCache(tmp_path / "unpacked")
    blobs = _Blobs({info.digest: buf.getvalue()})
    reference = unpacked.ensure(info.digest, blobs)
    assert blobs.opened == 1
    assert streamed.ensure(info.digest, blobs) == streamed.path_for(info.digest)
    assert blobs.opened == 1  # the streamed tree is taken as complete: no second unpack
    assert _tree(streamed.path_for(info.digest)) == _tree(reference)
    assert (
        streamed.index_for(info.digest).read_bytes() == unpacked.index_for(info.digest).read_bytes()
    )
    assert sorted(p.name for p in (tmp_path / "streamed").iterdir()) == sorted(
        p.name for p in (tmp_path / "unpacked").iterdir()
    )


def test_a_tree_that_cannot_be_unpacked_is_dropped_and_the_writer_goes_on(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "layers")
    tree = cache.unpack_while_written()
    for _ in range(64):  # garbage, far more than a pipe holds: the writer must never block
        tree.write(b"\x00not a tar" * 10000)
    digest = "sha256:" + "c" * 64
    tree.publish(digest)
    assert sorted(p.name for p in (tmp_path / "layers").iterdir()) == ["lock"]
    blobs = _Blobs({digest: _layer([Entry.file("x", b"1")]).getvalue()})
    assert (cache.ensure(digest, blobs) / "x").read_bytes() == b"1"  # unpacked from its blob


def test_a_discarded_tree_leaves_nothing(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "layers")
    tree = cache.unpack_while_written()
    tree.write(_layer([Entry.file("x", b"1")], "none").getvalue()[:700])
    tree.discard()
    assert sorted(p.name for p in (tmp_path / "layers").iterdir()) == ["lock"]
