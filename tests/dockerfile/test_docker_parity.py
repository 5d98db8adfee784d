"""COPY, ADD and bind mounts against BuildKit: the same Dockerfile and context, both builders.

The test engine's BuildKit writes the final file system with ``-o type=tar``; ours is our
image's layers merged.  Both are compared on path, type, mode, owner, content digest, link
target and device numbers (not on mtimes: ours are clamped to SOURCE_DATE_EPOCH, and
BuildKit stamps the directories it creates with the time of the build).  Where BuildKit
fails, we must fail too.  These are the cases where untrusted contexts and archives meet
symlinks, hardlinks and odd names, so "like docker" is checked, not assumed.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from backports import zstd

from distroless.errors import BuildError
from distroless.layers.entry import Entry, EntryType
from distroless.store import Store
from tests.dockerfile.executor_helpers import build
from tests.helpers import DockerEngine
from tests.helpers.docker import ENGINE_FLAKES
from tests.helpers.images import store_image
from tests.helpers.proc import CommandFailed, run
from tests.helpers.rawtar import Member, tar_of

BUSYBOX = Path("/bin/busybox")


@dataclass(frozen=True)
class Node:
    kind: str
    mode: int
    uid: int
    gid: int
    content: str = ""  # sha256 of a file's bytes, a link's target, a device's numbers


def _node(member: tarfile.TarInfo, data: bytes | None, files: Mapping[str, Node]) -> Node:
    mode, uid, gid = member.mode & 0o7777, member.uid, member.gid
    if member.isreg():
        return Node("file", mode, uid, gid, hashlib.sha256(data or b"").hexdigest())
    if member.islnk():  # either side may pick either name to carry the bytes
        target = files[member.linkname.removeprefix("./").rstrip("/")]
        return Node("file", mode, uid, gid, target.content)
    if member.isdir():
        return Node("dir", mode, uid, gid)
    if member.issym():
        return Node("symlink", 0o777, uid, gid, member.linkname)
    if member.ischr() or member.isblk():
        return Node("dev", mode, uid, gid, f"{member.type!r}{member.devmajor}:{member.devminor}")
    return Node("fifo" if member.isfifo() else "other", mode, uid, gid)


def _flatten(layers: list[bytes]) -> dict[str, Node]:
    """Paths of a stack of layer tars (no whiteouts are expected in these tests)."""
    files: dict[str, Node] = {}
    for blob in layers:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./").rstrip("/")
                if not name or name == ".":
                    continue
                data = None
                if member.isreg():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    data = extracted.read()
                files[name] = _node(member, data, files)
    return files


def _docker_files(engine: DockerEngine, context: Path, out: Path) -> dict[str, Node]:
    argv: list[str | Path] = [engine.cli, "build", "-q", "--network", "none"]
    argv += ["-o", f"type=tar,dest={out}", context]
    env = {**engine.env, "DOCKER_BUILDKIT": "1"}
    for _ in range(2):
        try:
            run(argv, env=env)
            break
        except CommandFailed as failed:
            if not any(flake in str(failed) for flake in ENGINE_FLAKES):
                raise
    else:
        run(argv, env=env)
    return _flatten([out.read_bytes()])


def _our_files(store: Store, context: Path) -> dict[str, Node]:
    built = build(store, context)
    blobs = []
    for layer in store.read_manifest(built.result.descriptor).layers:
        with store.open_blob(layer.digest) as fh:
            blobs.append(fh.read())
    return _flatten(blobs)


def _both(
    engine: DockerEngine, store: Store, context: Path, dockerfile: str, tmp: Path
) -> tuple[dict[str, Node], dict[str, Node]]:
    (context / "Dockerfile").write_text(dockerfile)
    theirs = _docker_files(engine, context, tmp / f"docker-{len(os.listdir(tmp))}.tar")
    ours = _our_files(store, context)
    for files in (theirs, ours):
        files.pop("Dockerfile", None)
    return theirs, ours


def _assert_same(theirs: dict[str, Node], ours: dict[str, Node]) -> None:
    differences = {
        path: (theirs.get(path), ours.get(path))
        for path in sorted({*theirs, *ours})
        if theirs.get(path) != ours.get(path)
    }
    assert not differences, "BuildKit vs us:\n" + "\n".join(
        f"  {p}: {t} != {o}" for p, (t, o) in differences.items()
    )


def _both_fail(
    engine: DockerEngine, store: Store, context: Path, dockerfile: str, tmp: Path
) -> BuildError:
    (context / "Dockerfile").write_text(dockerfile)
    with pytest.raises(CommandFailed):
        _docker_files(engine, context, tmp / "failed.tar")
    with pytest.raises(BuildError) as info:
        build(store, context)
    assert "Dockerfile:" in str(info.value) and "\n" not in str(info.value)
    return info.value


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    return out


# -- symlinks in the build context -----------------------------------------------------


def _linked_context(root: Path) -> Path:
    """A context whose links point at host-looking paths, each with an in-context twin."""
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "shadow").write_text("the context's own etc/shadow\n")
    (root / "secret").write_text("the context's own secret\n")
    (root / "data" / "sub").mkdir(parents=True)
    (root / "data" / "file").write_text("data file\n")
    (root / "data" / "sub" / "f").write_text("sub file\n")
    (root / "dir").mkdir()
    (root / "dir" / "plain").write_text("plain\n")
    os.symlink("/etc/shadow", root / "link_abs")
    os.symlink("../../secret", root / "link_rel")
    os.symlink("/data", root / "dirlink")
    os.symlink("../secret", root / "dir" / "inner_rel")
    os.symlink("/etc/shadow", root / "dir" / "inner_abs")
    os.symlink("link_abs", root / "chain")
    (root / "f.txt").write_text("f\n")
    return root


def test_symlinked_sources_are_followed_inside_the_context(
    docker_engine: DockerEngine, store: Store, tmp_path: Path, work: Path
) -> None:
    context = _linked_context(tmp_path / "ctx")
    theirs, ours = _both(
        docker_engine,
        store,
        context,
        "FROM scratch\n"
        "COPY link_abs /a\n"
        "COPY link_rel /r\n"
        "COPY chain /chained\n"
        "COPY dirlink /d\n"
        "COPY dirlink/sub/f /via\n"
        "COPY dir /dir\n"
        "COPY link_* /g/\n"
        "COPY --chown=42:43 f.txt /n1/n2/\n",
        work,
    )
    _assert_same(theirs, ours)
    assert ours["a"].content == hashlib.sha256(b"the context's own etc/shadow\n").hexdigest()
    assert ours["dir/inner_abs"] == Node("symlink", 0o777, 0, 0, "/etc/shadow")


def test_dockerignore_hides_what_a_link_points_to(
    docker_engine: DockerEngine, store: Store, tmp_path: Path, work: Path
) -> None:
    context = tmp_path / "ctx"
    (context / "private").mkdir(parents=True)
    (context / "secret.txt").write_text("ignored\n")
    (context / "private" / "key").write_text("ignored too\n")
    os.symlink("secret.txt", context / "alias")
    os.symlink("/secret.txt", context / "absalias")
    os.symlink("private", context / "pl")
    (context / ".dockerignore").write_text("secret.txt\nprivate\n")
    for source in ("alias", "absalias", "pl/key", "pl"):
        error = _both_fail(docker_engine, store, context, f"FROM scratch\nCOPY {source} /x\n", work)
        assert "Dockerfile:2:" in str(error)


# -- ADD of local archives -------------------------------------------------------------


#: the archives' members carry a time of their own, as archives people ADD do
MTIME = 1_000_000


def _member(name: str, kind: bytes = tarfile.REGTYPE, **fields: Any) -> Member:
    return Member(name, kind, mtime=MTIME, **fields)


def _tar(path: Path, members: list[Member]) -> Path:
    compress: dict[str, Callable[[bytes], bytes]] = {
        ".tar": bytes,
        ".gz": gzip.compress,
        ".bz2": bz2.compress,
        ".xz": lzma.compress,
        ".zst": zstd.compress,
    }
    path.write_bytes(compress[path.suffix](tar_of(members)))
    return path


RICH_ARCHIVE = [
    _member("./", tarfile.DIRTYPE, mode=0o700, uid=5, gid=5),
    _member("./top", tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1001),
    _member("./top/f", data=b"hello\n", mode=0o4755, uid=1000, gid=1001),
    _member("./top/h", tarfile.LNKTYPE, linkname="./top/f", mode=0o4755, uid=1000, gid=1001),
    _member("./top/s", tarfile.SYMTYPE, linkname="/etc/passwd", uid=7, gid=7),
    _member("/abs/file", data=b"abs\n", mode=0o600),
    _member("../up/file", data=b"up\n", mode=0o640),
    _member("impl/deep/x", data=b"x\n", mode=0o640),
    _member("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
    _member("fifo", tarfile.FIFOTYPE, mode=0o644),
    _member("dup", data=b"first\n"),
    _member("dup", data=b"second\n"),
    _member("old", data=b"old\n"),
    _member("keeps-old", tarfile.LNKTYPE, linkname="old"),
    _member("old", data=b"new!\n"),
    _member("real/f", data=b"data\n"),
    _member("l", tarfile.SYMTYPE, linkname="real"),
    _member("via-link", tarfile.LNKTYPE, linkname="l/f"),
    _member("up", tarfile.SYMTYPE, linkname="../../.."),
    _member("up/through", data=b"clamped\n"),
    _member("s", tarfile.SYMTYPE, linkname="target"),
    _member("link-to-link", tarfile.LNKTYPE, linkname="s"),
    _member("d/x", data=b"x\n"),
    _member("d", data=b"d is a file now\n"),
    _member("e", data=b"e was a file\n"),
    _member("e/", tarfile.DIRTYPE, mode=0o644),
    _member("e/y", data=b"y\n"),
]


@pytest.mark.parametrize("suffix", [".tar", ".gz", ".bz2", ".xz", ".zst"])
def test_add_unpacks_archives_like_buildkit(
    docker_engine: DockerEngine, store: Store, tmp_path: Path, work: Path, suffix: str
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    _tar(context / f"a{suffix}", RICH_ARCHIVE)
    base = {"tmp": (0o1777, 5, 5), "opt": (0o700, 6, 6)}
    _base_images(docker_engine, store, tmp_path, base)
    theirs, ours = _both(
        docker_engine,
        store,
        context,
        f"FROM parity-base\nADD a{suffix} /dst/\nADD a{suffix} /new\n"
        f"ADD --chown=42:43 a{suffix} /tmp/\nADD --chown=42:43 a{suffix} /opt/y/z/\n",
        work,
    )
    _assert_same(theirs, ours)
    assert ours["tmp"] == Node("dir", 0o1777, 5, 5)
    if suffix == ".zst":  # docker's ADD unpacks identity, gzip, bzip2 and xz only
        assert ours["dst/a.zst"].kind == "file"
    else:
        assert ours["dst/top/f"].mode == 0o4755 and ours["dst/top/f"].uid == 1000


def test_add_refuses_what_buildkit_refuses(
    docker_engine: DockerEngine, store: Store, tmp_path: Path, work: Path
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    cases = {
        "hardlink-out.tar": [_member("h", tarfile.LNKTYPE, linkname="/etc/hostname")],
        "hardlink-up.tar": [_member("h", tarfile.LNKTYPE, linkname="../../../etc/hostname")],
        "file-under-file.tar": [_member("f", data=b"f"), _member("f/x", data=b"x")],
        "hardlink-to-dir.tar": [
            _member("d", tarfile.DIRTYPE),
            _member("g", tarfile.LNKTYPE, linkname="d"),
        ],
    }
    for name, members in cases.items():
        _tar(context / name, members)
        error = _both_fail(docker_engine, store, context, f"FROM scratch\nADD {name} /dst/\n", work)
        assert f"ADD {name}: member" in str(error)


def _base_images(
    engine: DockerEngine,
    store: Store,
    tmp: Path,
    dirs: Mapping[str, tuple[int, int, int]],
    files: Mapping[str, Path] | None = None,
) -> None:
    """``parity-base`` in both builders: the same directories (and host files) in each."""
    tar_path = tmp / "parity-base.tar"
    with tarfile.open(tar_path, "w") as tar:
        for name, (mode, uid, gid) in dirs.items():
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, gid
            tar.addfile(info)
        for name, host in (files or {}).items():
            info = tar.gettarinfo(str(host), name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with host.open("rb") as fh:
                tar.addfile(info, fh)
    engine.run("import", tar_path, "parity-base")
    entries: list[Entry] = [
        Entry(name, EntryType.DIR, mode=mode, uid=uid, gid=gid)
        for name, (mode, uid, gid) in dirs.items()
    ]
    for name, host in (files or {}).items():
        entries.append(
            Entry(
                name,
                EntryType.FILE,
                mode=host.stat().st_mode & 0o7777,
                size=host.stat().st_size,
                opener=_opener(host),
            )
        )
    store_image(store, "parity-base:latest", [entries])


def _opener(path: Path) -> Callable[[], io.BufferedReader]:
    return lambda: path.open("rb")


# -- bind mounts -----------------------------------------------------------------------


@pytest.mark.unsafe_images  # the base has a shell, as a builder stage does
def test_bind_mounts_show_the_context_as_buildkit_does(
    docker_engine: DockerEngine, store: Store, tmp_path: Path, work: Path
) -> None:
    if os.geteuid() != 0 or not BUSYBOX.is_file():
        pytest.skip("needs root and a static busybox (Debian's busybox-static)")
    _base_images(docker_engine, store, tmp_path, {"bin": (0o755, 0, 0)}, {"bin/sh": BUSYBOX})
    context = tmp_path / "ctx"
    (context / "etc").mkdir(parents=True)
    (context / "sub").mkdir()
    (context / "etc" / "inctx").write_text("the context's etc\n")
    (context / "sub" / "keep").write_text("kept\n")
    (context / "sub" / "hidden").write_text("ignored\n")
    (context / ".dockerignore").write_text("sub/hidden\nDockerfile\n")
    os.symlink("/etc", context / "etclink")
    theirs, ours = _both(
        docker_engine,
        store,
        context,
        "FROM parity-base\n"
        "RUN --mount=type=bind,source=etclink,target=/m /bin/sh -c 'find /m | sort > /seen-link'\n"
        "RUN --mount=type=bind,target=/c /bin/sh -c 'find /c | sort > /seen-context'\n"
        "RUN --mount=type=bind,source=sub,target=/s,rw /bin/sh -c "
        "'echo x > /s/new; find /s | sort > /seen-rw'\n",
        work,
    )
    _assert_same(
        {k: v for k, v in theirs.items() if k.startswith("seen")},
        {k: v for k, v in ours.items() if k.startswith("seen")},
    )
    assert not (context / "sub" / "new").exists()
    listings = {
        "seen-link": "/m\n/m/inctx\n",
        "seen-context": "/c\n/c/.dockerignore\n/c/etc\n/c/etc/inctx\n/c/etclink\n/c/sub\n"
        "/c/sub/keep\n",
        "seen-rw": "/s\n/s/keep\n/s/new\n",
    }
    for name, listing in listings.items():
        assert ours[name].content == hashlib.sha256(listing.encode()).hexdigest(), name
