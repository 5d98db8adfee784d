"""The unpacked-layer cache: what images hold must not reach the host's other users.

Layers hold set-uid binaries, files with capabilities and device nodes; unpacked into the
store they sit on the host.  The cache is private to its owner, never holds a device
node, cannot be wiped by one hostile entry, goes with its blobs at ``prune`` and is
checked by ``fsck``.  Decoys (a set-uid copy of ``id``, device nodes, planted files) live
under the test's temporary directory.
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from distroless.errors import ArchiveError, PolicyError, StoreError
from distroless.layers.build import write_layer
from distroless.layers.entry import Entry
from distroless.layers.reader import iter_layer
from distroless.oci import mediatypes as mt
from distroless.oci.digest import Digest, hex_of, sha256_bytes
from distroless.oci.models import ContainerConfig, Descriptor, ImageConfig, Manifest
from distroless.runtime.rootfs import LayerCache
from distroless.store import Store
from tests.helpers import Cli, DockerEngine, require_root, require_tool
from tests.helpers.images import store_image
from tests.helpers.rawtar import Member, tar_of

NOBODY = 65534


class _Blobs:
    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs

    def open_blob(self, digest: str) -> io.BytesIO:
        return io.BytesIO(self.blobs[digest])


def _digest(n: int) -> str:
    return "sha256:" + f"{n:x}" * 64


def _nodes_in(root: Path) -> list[str]:
    """Device nodes under ``root`` other than overlay whiteouts (0/0)."""
    found = []
    for path in root.rglob("*"):
        st = os.lstat(path)
        if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and st.st_rdev != 0:
            found.append(str(path.relative_to(root)))
    return found


_AS_NOBODY = """
import os, sys
fd = int(sys.argv[1])
os.fchdir(fd)
os.close(fd)
os.setgroups([])
os.setgid(65534)
os.setuid(65534)  # from root: every capability goes too
try:
    os.execv(sys.argv[2], sys.argv[2:])
except OSError as exc:
    print(f"refused: errno {exc.errno}")
"""


def _as_nobody(cwd_fd: int, argv: list[str]) -> str:
    """Run ``argv`` as uid/gid 65534 from the directory ``cwd_fd``; its output or the errno.

    Starting from a directory handle leaves the modes of the directories above out of the
    question: whatever they are, the cache itself must keep other users out.
    """
    done = subprocess.run(
        [sys.executable, "-c", _AS_NOBODY, str(cwd_fd), *argv],
        pass_fds=(cwd_fd,), capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_cached_setuid_binary_is_out_of_reach_of_other_users(tmp_path: Path) -> None:
    require_root()
    decoy = Path(require_tool("id")).read_bytes()  # prints the effective uid with -u
    digest = _digest(1)
    layer = io.BytesIO()
    write_layer([Entry.file("usr/bin/decoy", decoy, mode=0o4755)], layer, "gzip")
    state = tmp_path / "store" / "state"
    (state / "layers").mkdir(parents=True, mode=0o755)  # as an older version left it
    os.chmod(state / "layers", 0o755)
    tree = LayerCache(state / "layers").ensure(digest, _Blobs({digest: layer.getvalue()}))
    assert stat.S_IMODE(os.lstat(tree / "usr/bin/decoy").st_mode) == 0o4755  # kept for runs

    fd = os.open(state, os.O_RDONLY | os.O_DIRECTORY)
    try:
        seen = _as_nobody(fd, [f"./layers/{hex_of(digest)}/usr/bin/decoy", "-u"])
    finally:
        os.close(fd)
    assert seen == f"refused: errno {errno.EACCES}", f"nobody ran the cached set-uid decoy: {seen}"
    assert stat.S_IMODE(os.lstat(state / "layers").st_mode) == 0o700


def test_device_nodes_of_a_layer_are_never_created_in_the_cache(tmp_path: Path) -> None:
    digest = _digest(2)
    blob = tar_of(
        [
            Member("dev/decoy-null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
            Member("dev/decoy-loop", tarfile.BLKTYPE, mode=0o666, devmajor=7, devminor=200),
            Member("opt/decoy-mem", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=1),
        ]
    )
    cache = LayerCache(tmp_path / "layers")
    cache.ensure(digest, _Blobs({digest: blob}))
    assert _nodes_in(tmp_path / "layers") == []


def test_a_whiteout_of_dotdot_does_not_wipe_the_cache(tmp_path: Path) -> None:
    cache = LayerCache(tmp_path / "layers")
    decoy, hostile = _digest(3), _digest(4)
    layer = io.BytesIO()
    write_layer([Entry.file("decoy", b"still here")], layer, "gzip")
    blobs = _Blobs({decoy: layer.getvalue(), hostile: tar_of([Member("f"), Member(".wh...")])})
    kept = cache.ensure(decoy, blobs)
    before = sorted(os.listdir(tmp_path / "layers"))
    with pytest.raises(ArchiveError, match=r"'\.wh\.\.\.' is a whiteout of '\.\.'"):
        cache.ensure(hostile, blobs)
    assert (kept / "decoy").read_bytes() == b"still here"
    assert sorted(os.listdir(tmp_path / "layers")) == before


def _image_with(store: Store, name: str, entries: list[Entry]) -> list[str]:
    desc = store_image(store, name, [entries], ContainerConfig(entrypoint=("/app",)))
    return [d.digest for d in store.load_image(desc.digest).layers]


def test_prune_removes_unpacked_layers_with_their_blobs(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "store")
    store = Store(cli.root)
    gone = _image_with(store, "gone:1", [Entry.file("app", b"gone", mode=0o755)])
    kept = _image_with(store, "kept:1", [Entry.file("app", b"kept", mode=0o755)])
    cache = LayerCache(store.state_dir("layers"))
    cache.ensure_all(gone + kept, store)
    killed = cache.root / ".tmp-0123456789ab-deadbeef"  # what a killed unpack leaves
    (killed / "usr/bin").mkdir(parents=True)
    (cache.root / ".tmp-0123456789ab-deadbeef.index").write_text("")
    cli("rmi", "gone:1").check()

    out = cli("prune").check().stdout
    assert "Deleted 2 unpacked layers" in out
    names = sorted(os.listdir(cache.root))
    assert names == sorted([hex_of(kept[0]), hex_of(kept[0]) + ".index", "lock"])
    assert cli("prune", "--json").check().json()["unpacked_layers"] == 0  # type: ignore[index]


def test_fsck_reports_and_removes_a_tampered_unpacked_layer(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "store")
    store = Store(cli.root)
    (digest,) = _image_with(store, "app:1", [Entry.file("app", b"genuine", mode=0o755)])
    cache = LayerCache(store.state_dir("layers"))
    tree = cache.ensure(digest, store)
    assert cli("fsck").check().stdout.strip() == "store is consistent"
    (tree / "app").write_bytes(b"tampered")  # what the next run would execute

    result = cli("fsck")
    assert result.exit_code == PolicyError.exit_code
    assert f"unpacked layer {digest} differs from its record: /app changed" in result.stdout
    assert "removed it, the next run unpacks it again" in result.stdout
    assert not tree.exists()
    assert (cache.ensure(digest, store) / "app").read_bytes() == b"genuine"
    assert cli("fsck").check().stdout.strip() == "store is consistent"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs for the store (root only), unmounted at the end."""
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


def test_a_full_disk_while_unpacking_is_a_store_error(small_disk: Path) -> None:
    require_tool("runc")
    cli = Cli(small_disk / "store")
    store = Store(cli.root)
    # 6 MiB of zeros: a small blob that does not fit the disk once unpacked
    _image_with(store, "big:1", [Entry.file("app", bytes(6 << 20), mode=0o755)])
    layers = store.state_dir("layers")

    result = cli.subprocess("run", "--rm", "big:1")

    assert result.exit_code == StoreError.exit_code, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: no space left on device while writing layer sha256:")
    assert str(cli.root) in result.stderr
    assert sorted(os.listdir(layers)) == ["lock"]  # the partial unpack went with its error


@pytest.mark.unsafe_images  # the image holds a shell and device nodes on purpose
def test_a_container_gets_the_device_nodes_of_its_image(tmp_path: Path) -> None:
    require_root()
    require_tool("runc")
    busybox = require_tool("busybox").read_bytes()
    cli = Cli(tmp_path / "store")
    store = Store(cli.root)
    blob = tar_of(
        [
            Member("bin/busybox", data=busybox, mode=0o755),
            Member("opt", tarfile.DIRTYPE, mode=0o751),
            Member("opt/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
            Member("opt/disk", tarfile.BLKTYPE, mode=0o600, devmajor=7, devminor=200),
        ]
    )
    with store.write_blob() as writer:
        writer.write(blob)
    digest = writer.digest
    _tag_raw_layer(store, "devices:1", digest, len(blob))

    shown = cli.subprocess(
        "run", "--rm", "--network", "none", "devices:1",
        "/bin/busybox", "stat", "-c", "%n %F %t:%T %a", "/opt/null", "/opt/disk", "/opt",
    ).check().stdout  # fmt: skip
    assert shown.splitlines() == [
        "/opt/null character special file 1:3 666",
        "/opt/disk block special file 7:c8 600",
        "/opt directory 0:0 751",
    ]
    # the node works (runc allows 1:3) and the cache never held one
    cli.subprocess("run", "--rm", "devices:1", "/bin/busybox", "cat", "/opt/null").check()
    assert _nodes_in(store.state_dir("layers")) == []


def _tag_raw_layer(store: Store, name: str, digest: Digest, size: int) -> None:
    """Tag an image whose one layer is the plain tar blob ``digest``."""
    with store.open_blob(digest) as fh:
        diff_id = sha256_bytes(fh.read())
    config = ImageConfig(config=ContainerConfig(), diff_ids=(diff_id,))
    raw = config.to_bytes()
    manifest = Manifest(
        config=Descriptor(mt.OCI_CONFIG, store.put_bytes(raw), len(raw)),
        layers=(Descriptor(mt.OCI_LAYER, digest, size),),
    )
    store.tag(name, store.put_manifest(manifest))


def _busybox_rootfs(tmp_path: Path) -> Path:
    busybox = require_tool("busybox").read_bytes()
    tar = tmp_path / "busybox-rootfs.tar"
    tar.write_bytes(
        tar_of(
            [
                Member("bin", tarfile.DIRTYPE, mode=0o755),
                Member("bin/busybox", data=busybox, mode=0o755),
                Member("bin/sh", tarfile.SYMTYPE, linkname="busybox", mode=0o777),
                Member("etc", tarfile.DIRTYPE, mode=0o755),  # docker and we mount files there
                Member("tmp", tarfile.DIRTYPE, mode=0o1777),
            ]
        )
    )
    return tar


def _run_layers(archive: Path) -> list[dict[str, tuple[str, int, int, int]]]:
    """Per layer of a docker-archive (bottom up): path -> (type, mode, major, minor)."""
    kinds = {
        tarfile.CHRTYPE: "char",
        tarfile.BLKTYPE: "block",
        tarfile.FIFOTYPE: "fifo",
        tarfile.REGTYPE: "file",
        tarfile.DIRTYPE: "dir",
        tarfile.SYMTYPE: "symlink",
    }
    out = []
    with tarfile.open(archive) as outer:
        member = outer.extractfile("manifest.json")
        assert member is not None
        (entry,) = json.load(member)
        for name in entry["Layers"]:
            blob = outer.extractfile(name)
            assert blob is not None
            layer = {}
            for info, _ in iter_layer(blob):  # type: ignore[arg-type]
                path = info.name.removeprefix("./").rstrip("/")
                layer[path] = (kinds.get(info.type, "other"), info.mode & 0o7777,
                               info.devmajor, info.devminor)  # fmt: skip
            out.append(layer)
    return out


DEVICE_DOCKERFILE = """FROM busybox-rootfs:1
RUN mknod /node c 1 3 && mknod /bnode b 7 200 && mkfifo /fifo && chmod 640 /node
RUN stat -c '%n %F %t:%T %a' /node /bnode /fifo > /seen.txt
"""


@pytest.mark.unsafe_images  # a shell and device nodes on purpose
def test_a_device_node_made_by_run_round_trips_as_in_docker(
    tmp_path: Path, docker_engine: DockerEngine
) -> None:
    require_tool("runc")
    rootfs = _busybox_rootfs(tmp_path)
    docker_engine.import_rootfs(rootfs, "busybox-rootfs:1", 'CMD ["/bin/sh"]')
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DEVICE_DOCKERFILE)
    base_tar, docker_tar, ours_tar = (tmp_path / n for n in ("base.tar", "docker.tar", "ours.tar"))
    docker_engine.run("save", "-o", base_tar, "busybox-rootfs:1")
    docker_engine.env["DOCKER_BUILDKIT"] = "1"
    try:
        docker_engine.run("build", "-q", "--network", "none", "-t", "devices-run:1", ctx)
    finally:
        del docker_engine.env["DOCKER_BUILDKIT"]
    docker_engine.run("save", "-o", docker_tar, "devices-run:1")

    cli = Cli(tmp_path / "store")
    cli("load", "-i", base_tar).check()
    cli("build", "-q", "-t", "devices-run:1", ctx).check()
    cli("save", "devices-run:1", "-o", ours_tar).check()

    theirs, ours = _run_layers(docker_tar)[-2:], _run_layers(ours_tar)[-2:]
    devices = {"node": ("char", 0o640, 1, 3), "bnode": ("block", 0o644, 7, 200)}
    for path, want in devices.items():
        assert theirs[0][path] == want
        assert ours[0][path] == want
    assert ours[0]["fifo"][0] == theirs[0]["fifo"][0] == "fifo"
    # the next step sees the nodes and does not copy them into its own layer (directories
    # aside: docker's layer carries /etc, which its runtime touched for /etc/hosts)
    assert "node" not in theirs[1] and "node" not in ours[1]
    files = [{p for p, v in layer.items() if v[0] != "dir"} for layer in (ours[1], theirs[1])]
    assert files[0] == files[1] == {"seen.txt"}
    store = Store(cli.root)
    assert _nodes_in(store.state_dir("layers")) == []
    shown = cli.subprocess(
        "run", "--rm", "devices-run:1", "/bin/busybox", "cat", "/seen.txt"
    ).check().stdout  # fmt: skip
    assert shown.splitlines() == [
        "/node character special file 1:3 640",
        "/bnode block special file 7:c8 644",
        "/fifo fifo 0:0 644",
    ]
    assert docker_engine.run_image("devices-run:1", "/bin/busybox", "cat", "/seen.txt").stdout == (
        shown
    )
