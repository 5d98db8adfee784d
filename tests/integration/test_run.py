"""``distroless run`` and the RUN-step capture API against the real runc (as root)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import tarfile
from pathlib import Path

import pytest

from distroless.layers.apply import apply_layer
from distroless.layers.build import write_layer
from distroless.layers.entry import Entry
from distroless.oci.digest import Digest
from distroless.oci.models import ContainerConfig
from distroless.runtime import LayerCache, RunOptions, StepConfig, run_and_capture, run_image
from distroless.runtime.container import clean_leftovers, leftovers
from distroless.runtime.runc import Runtime
from distroless.store import Store
from tests.helpers import HELLO_LINE, Cli, distroless_executable, require_root, require_tool
from tests.helpers.images import store_image
from tests.runtime.images import base_entries, build_probe


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, hello_go_binary: Path) -> Path:
    """A store holding ``hello`` (the shared hello binary) and ``probe`` (tests/runtime)."""
    require_root()
    require_tool("runc")
    store_dir = tmp_path_factory.mktemp("run") / "store"
    store = Store(store_dir)
    probe = build_probe(tmp_path_factory.mktemp("probe"))
    store_image(
        store,
        "hello:latest",
        [[Entry.file("hello", hello_go_binary.read_bytes(), mode=0o755)]],
        ContainerConfig(entrypoint=("/hello",)),
    )
    store_image(
        store,
        "probe:latest",
        [base_entries(probe)],
        ContainerConfig(entrypoint=("/probe",), env=("FOO=image", "KEEP=kept")),
    )
    return store_dir


@pytest.fixture
def cli(root: Path) -> Cli:
    return Cli(root)


def _mounts_under(path: Path) -> list[str]:
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if str(path) in line]


def _runc_ids(root: Path) -> list[str]:
    """Containers runc knows whose bundle is in this store (others run on the machine)."""
    proc = subprocess.run([str(require_tool("runc")), "list", "--format", "json"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    items = json.loads(proc.stdout or "[]") or []
    return [c["id"] for c in items if str(c.get("bundle", "")).startswith(str(root))]


def assert_nothing_left(root: Path) -> None:
    assert _mounts_under(root) == []
    assert leftovers(root / "state" / "containers") == []
    build = root / "state" / "build"
    assert not build.exists() or list(build.iterdir()) == []
    assert _runc_ids(root) == []


def test_run_prints_the_hello_line(cli: Cli, root: Path) -> None:
    result = cli.subprocess("run", "--rm", "hello:latest").check()
    assert result.stdout.strip() == HELLO_LINE
    assert_nothing_left(root)


def test_args_after_the_image_reach_the_program(cli: Cli) -> None:
    result = cli.subprocess("run", "--rm", "hello:latest", "--flag", "-e", "x").check()
    assert "--flag" in result.stdout and "-e" in result.stdout


def test_exit_code_passes_through(cli: Cli, root: Path) -> None:
    result = cli.subprocess("run", "--rm", "probe:latest", "exit", "3")
    assert result.exit_code == 3
    assert_nothing_left(root)


def test_env_overrides_and_defaults(cli: Cli) -> None:
    result = cli.subprocess(
        "run", "--rm", "-e", "FOO=cli", "-e", "NEW=1", "probe:latest", "env", "FOO", "KEEP",
        "NEW", "PATH", "HOME",
    ).check()  # fmt: skip
    assert result.stdout.splitlines() == [
        "FOO=cli",
        "KEEP=kept",
        "NEW=1",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/root",
    ]


def test_numeric_user(cli: Cli) -> None:
    result = cli.subprocess("run", "--rm", "-u", "65532", "probe:latest", "id").check()
    assert result.stdout.strip() == "uid=65532 gid=65532 groups=50"


def test_user_name_and_group(cli: Cli) -> None:
    result = cli.subprocess("run", "--rm", "-u", "nonroot:tty", "probe:latest", "id").check()
    assert result.stdout.strip() == "uid=65532 gid=5 groups="


def test_unknown_user_fails_clearly_and_cleans_up(cli: Cli, root: Path) -> None:
    result = cli.subprocess("run", "--rm", "-u", "ghost", "probe:latest", "id")
    assert result.exit_code == 10
    assert "'ghost' is not in the image's /etc/passwd" in result.stderr
    assert_nothing_left(root)


def test_workdir_is_created_and_used(cli: Cli) -> None:
    result = cli.subprocess("run", "--rm", "-w", "/srv/app", "probe:latest", "pwd").check()
    assert result.stdout.strip() == "/srv/app"


def test_volumes_read_only_and_read_write(cli: Cli, tmp_path: Path) -> None:
    ro, rw = tmp_path / "ro", tmp_path / "rw"
    ro.mkdir()
    rw.mkdir()
    (ro / "in.txt").write_text("from host")
    result = cli.subprocess("run", "--rm", "-v", f"{ro}:/data:ro", "probe:latest", "cat",
                            "/data/in.txt").check()  # fmt: skip
    assert result.stdout == "from host"
    denied = cli.subprocess(
        "run", "--rm", "-v", f"{ro}:/data:ro", "probe:latest", "write", "/data/x", "y"
    )
    assert denied.exit_code == 2
    assert "read-only file system" in denied.stdout
    assert not (ro / "x").exists()
    cli.subprocess(
        "run", "--rm", "-v", f"{rw}:/out", "probe:latest", "write", "/out/x", "y"
    ).check()
    assert (rw / "x").read_text() == "y"


def test_network_none_has_only_loopback(cli: Cli) -> None:
    result = cli.subprocess("run", "--rm", "--network", "none", "probe:latest", "netdevs").check()
    assert result.stdout.split() == ["lo"]


def test_network_host_sees_host_interfaces(cli: Cli) -> None:
    result = cli.subprocess("run", "--rm", "--network", "host", "probe:latest", "netdevs").check()
    assert sorted(result.stdout.split()) == sorted(os.listdir("/sys/class/net"))


def test_no_command_is_a_sandbox_error(cli: Cli, root: Path) -> None:
    result = cli.subprocess("run", "--rm", "--entrypoint", "", "probe:latest")
    assert result.exit_code == 10
    assert "no entrypoint and no command" in result.stderr
    assert_nothing_left(root)


def test_crun_runs_the_same_bundle(cli: Cli, root: Path) -> None:
    require_tool("crun")
    result = cli.subprocess("run", "--rm", "--runtime", "crun", "hello:latest")
    assert result.check().stdout.strip() == HELLO_LINE
    failing = cli.subprocess("run", "--rm", "--runtime", "crun", "probe:latest", "exit", "3")
    assert failing.exit_code == 3
    assert_nothing_left(root)


def test_sigterm_reaches_the_container(root: Path) -> None:
    proc = subprocess.Popen(
        [str(distroless_executable()), "--root", str(root), "run", "--rm", "probe:latest",
         "wait-signal"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()
        assert proc.wait(timeout=60) == 42
        assert "got terminated" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_nothing_left(root)


def test_without_rm_state_is_kept_until_cleaned(root: Path) -> None:
    store = Store(root)
    code = run_image(store, "hello:latest", RunOptions(remove=False), stdout=subprocess.DEVNULL)
    assert code == 0
    kept = leftovers(root / "state" / "containers")
    assert len(kept) == 1
    assert clean_leftovers(root / "state" / "containers", Runtime.find()) == kept
    assert_nothing_left(root)


def test_fifty_runs_leave_nothing_behind(root: Path) -> None:
    store = Store(root)
    layers = store.state_dir("layers")
    run_image(store, "probe:latest", RunOptions(args=("hello",)), stdout=subprocess.DEVNULL)
    cached = sorted(p.name for p in layers.iterdir())
    for i in range(50):
        code = run_image(
            store,
            "probe:latest",
            RunOptions(args=("exit", str(i % 4)), network="none" if i % 2 else "host"),
            stdout=subprocess.DEVNULL,
        )
        assert code == i % 4
    assert_nothing_left(root)
    assert sorted(p.name for p in layers.iterdir()) == cached  # unpacked once, reused


Lowers = tuple[Store, list[Digest], list[Path], ContainerConfig]


@pytest.fixture
def capture_lowers(root: Path) -> Lowers:
    """The probe image plus one more layer, unpacked in the cache: a stage's state."""
    store = Store(root)
    probe = store.load_image("probe:latest")
    with store.write_blob() as w:
        info = write_layer(
            [Entry.file("etc/app.conf", b"old"), Entry.file("var/cache/a", b"a"),
             Entry.file("var/cache/b", b"b"), Entry.file("doomed", b"x")],
            w,
        )  # fmt: skip
    cache = LayerCache(store.state_dir("layers"))
    digests = [d.digest for d in probe.layers] + [info.digest]
    return store, digests, cache.ensure_all(digests, store), probe.config.config


def test_capture_turns_changes_into_a_layer(
    capture_lowers: Lowers, tmp_path: Path, root: Path
) -> None:
    store, digests, lowers, config = capture_lowers
    step = StepConfig(
        config=config,
        args=("/probe", "fs", "create", "/new.txt", "hello", "create", "/etc/app.conf", "new",
              "rm", "/doomed", "rmtree", "/var/cache", "mkdir", "/var/cache", "create",
              "/var/cache/c", "c", "link", "/new.txt", "/new-link.txt", "symlink", "new.txt",
              "/sl"),
    )  # fmt: skip
    sink = io.BytesIO()
    result = run_and_capture(
        lowers, step, sink, "gzip", state_root=root / "state" / "build", source_date_epoch=1000,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.exit_code == 0
    assert result.layer is not None
    assert result.layer.size == len(sink.getvalue())

    with tarfile.open(fileobj=io.BytesIO(sink.getvalue())) as tar:
        members = {m.name.rstrip("/"): m for m in tar.getmembers()}
    assert ".wh.doomed" in members
    assert "var/cache/.wh..wh..opq" in members
    assert members["new-link.txt"].islnk() or members["new.txt"].islnk()
    assert all(m.mtime <= 1000 for m in members.values())
    for runtime_made in ("etc/hosts", "etc/resolv.conf", "etc/hostname"):
        assert runtime_made not in members
    # the probe image has no /dev, /proc, /sys: their mount points stay, empty, as in BuildKit
    for kernel in ("proc", "dev", "sys"):
        assert members[kernel].isdir() and members[kernel].mode == 0o755
        assert not any(name.startswith(kernel + "/") for name in members)

    target = tmp_path / "rootfs"
    target.mkdir()
    for digest in digests:
        with store.open_blob(digest) as fh:
            apply_layer(fh, target)
    apply_layer(io.BytesIO(sink.getvalue()), target)
    assert (target / "new.txt").read_text() == "hello"
    assert (target / "etc/app.conf").read_text() == "new"
    assert not (target / "doomed").exists()
    assert sorted(p.name for p in (target / "var/cache").iterdir()) == ["c"]
    assert os.readlink(target / "sl") == "new.txt"
    assert (target / "new.txt").stat().st_ino == (target / "new-link.txt").stat().st_ino
    assert_nothing_left(root)


def test_capture_failure_writes_no_layer(capture_lowers: Lowers, root: Path) -> None:
    _, _, lowers, config = capture_lowers
    sink = io.BytesIO()
    result = run_and_capture(
        lowers, StepConfig(config=config, args=("/probe", "exit", "7")), sink,
        state_root=root / "state" / "build",
    )  # fmt: skip
    assert (result.exit_code, result.layer) == (7, None)
    assert sink.getvalue() == b""
    assert_nothing_left(root)


def test_capture_is_deterministic(capture_lowers: Lowers, root: Path) -> None:
    _, _, lowers, config = capture_lowers
    step = StepConfig(
        config=config,
        args=("/probe", "fs", "mkdir", "/opt/app", "create", "/opt/app/x", "1", "rm", "/doomed"),
    )
    digests = set()
    for _ in range(2):
        sink = io.BytesIO()
        result = run_and_capture(
            lowers, step, sink, "gzip", state_root=root / "state" / "build",
            source_date_epoch=0, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        assert result.layer is not None
        digests.add(result.layer.digest)
    assert len(digests) == 1
