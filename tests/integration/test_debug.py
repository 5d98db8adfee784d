"""``distroless debug`` on the Go example image and on a running container, real runc.

The Go example (examples/hello-go, its spec form: the program on an empty base) has no
shell and no tools; the toolbox brings them at ``/.debug`` and leaves the image, the
store and the layer cache exactly as they were.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pexpect
import pytest

from tests.helpers import (
    Cli,
    distroless_executable,
    go_build,
    require_root,
    require_tool,
    wait_until,
)
from tests.runtime.containers import container_states, in_foreground, mounts_under, runtime_ids

pytestmark = [pytest.mark.integration]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-go"
APP = "my-distroless-app:latest"
PROMPT = r"/ # "
TOOLBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/.debug"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_root()
    require_tool("runc")
    require_tool("slirp4netns")
    base = tmp_path_factory.mktemp("debug")
    context = base / "hello-go"
    shutil.copytree(EXAMPLE, context, ignore=shutil.ignore_patterns("myapp"))
    go_build(context / "main.go", context / "myapp")
    store = base / "store"
    Cli(store)("build", "--spec", context / "image.yaml", "-t", APP).check()
    return store


@pytest.fixture
def cli(root: Path, tmp_path: Path) -> Cli:
    return Cli(root)


def _tree(root: Path) -> dict[str, str]:
    """Every file of the store but the containers' state: path -> sha256 (or link)."""
    out: dict[str, str] = {}
    for base, dirs, files in os.walk(root):
        rel = os.path.relpath(base, root)
        if rel == os.path.join("state", "containers") or rel.startswith(
            os.path.join("state", "containers") + os.sep
        ):
            dirs[:] = []
            continue
        for name in files + [d for d in dirs if os.path.islink(os.path.join(base, d))]:
            path = os.path.join(base, name)
            if os.path.islink(path):
                out[os.path.relpath(path, root)] = "-> " + os.readlink(path)
            elif name not in ("lock", "gc.lock", "index.lock"):
                with open(path, "rb") as fh:
                    out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def test_debug_an_image_without_a_shell(cli: Cli, root: Path) -> None:
    digest = cli("inspect", APP).check().json()["digest"]  # type: ignore[index]
    assert cli.subprocess("run", "--rm", "--entrypoint", "sh", APP).exit_code == 10  # no shell
    before = _tree(root)
    listing = cli.subprocess("debug", APP, "ls", "-a", "/").check()
    assert {"myapp", ".debug", "proc", "etc"} <= set(listing.stdout.split())
    environ = cli.subprocess("debug", APP, "cat", "/proc/1/environ").check().stdout
    assert f"PATH={TOOLBOX_PATH}" in environ.split("\0")
    script = cli.subprocess("debug", APP, "sh", "-c", "/myapp; echo status=$?; id -u").check()
    assert script.stdout.splitlines() == ["Hello, Distroless World!", "status=0", "0"]
    # writes go to the throw-away container, not to the image
    cli.subprocess("debug", APP, "sh", "-c", "echo x > /myapp; rm -f /etc/passwd").check()
    assert cli.subprocess("run", "--rm", APP).check().stdout == "Hello, Distroless World!\n"
    assert cli("inspect", APP).check().json()["digest"] == digest  # type: ignore[index]
    assert cli.subprocess("fsck").check().stdout == "store is consistent\n"
    assert _tree(root) == before  # nothing of the toolbox, nothing changed
    assert not any("busybox" in path for path in _tree(root))
    assert container_states(root) == [] and mounts_under(root) == []


def test_debug_a_running_container(cli: Cli, root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # /myapp prints and exits: a static sleep from the host keeps the container running
    cli.subprocess("run", "-d", "--name", "app", "-e", "SECRET_MODE=on", "-v", f"{out}:/out",
                   "-v", f"{_sleeper(tmp_path)}:/sleeper:ro", "--entrypoint", "/sleeper/sleep",
                   APP, "3600").check()  # fmt: skip
    before = _tree(root)
    try:
        script = (
            "ls /; tr '\\000' '\\n' < /proc/1/environ; ps -o pid,args; "
            "echo from-debug > /out/f; ls /sys/class/net; "
            "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"
        )
        seen = cli.subprocess("debug", "app", "sh", "-c", script).check()
        lines = seen.stdout.splitlines()
        assert "myapp" in lines and "out" in lines  # the target's files and volumes
        assert "SECRET_MODE=on" in lines  # PID 1 is the target's process: its environment
        assert any(line.split()[:2] == ["1", "/sleeper/sleep"] for line in lines)
        assert (out / "f").read_text() == "from-debug\n"
        assert lines[-4:] == ["lo", "tap0", "NoNewPrivs:\t1", "Seccomp:\t2"]  # its network
        assert not (root / "state/containers/app/upper/.debug").exists()  # mount point gone
        listed = cli.subprocess("ps").check().stdout
        assert "app" in listed
    finally:
        cli.subprocess("rm", "-f", "app").check()
    assert _tree(root) == before
    assert cli.subprocess("fsck").check().stdout == "store is consistent\n"
    assert container_states(root) == [] and runtime_ids(root) == []
    assert mounts_under(root) == []


def test_the_interactive_debug_shell_has_a_terminal(cli: Cli, root: Path) -> None:
    """``debug IMAGE`` with no command, under a real pty: the toolbox's shell, as ``-it``."""
    digest = cli("inspect", APP).check().json()["digest"]  # type: ignore[index]
    cli.subprocess("run", "--rm", APP).check()  # the layer's unpacked copy exists before
    before = _tree(root)
    env = dict(os.environ, TERM="xterm")
    child = pexpect.spawn(
        str(distroless_executable()), ["--root", str(root), "debug", APP],
        env=env, timeout=90, encoding="utf-8", dimensions=(24, 80),
    )  # fmt: skip
    try:
        child.expect(PROMPT)
        child.sendline("tty; echo PATH=$PATH")
        child.expect(rf"\r\n/dev/pts/\d+\r\nPATH={re.escape(TOOLBOX_PATH)}\r\n")
        child.expect(PROMPT)
        child.sendline("/myapp")  # the image's own program, from the toolbox's shell
        child.expect(r"\r\nHello, Distroless World!\r\n")
        child.expect(PROMPT)
        child.sendline("sleep 6002")
        wait_until(lambda: in_foreground("sleep 6002"), timeout=60, what="sleep in the foreground")
        child.sendcontrol("c")  # ends the foreground job, not the shell
        child.expect(PROMPT)
        child.sendline("echo code=$?")
        child.expect(r"\r\ncode=130\r\n")
        child.expect(PROMPT)
        child.sendeof()
        child.expect(pexpect.EOF)
        child.close()
    finally:
        if child.isalive():
            child.close(force=True)
            cli.subprocess("ps").check()  # reaps the container of a killed session
    assert child.exitstatus == 0
    assert cli("inspect", APP).check().json()["digest"] == digest  # type: ignore[index]
    assert _tree(root) == before  # nothing of the toolbox, nothing changed
    assert cli.subprocess("fsck").check().stdout == "store is consistent\n"
    assert container_states(root) == [] and runtime_ids(root) == []
    assert mounts_under(root) == []


def _sleeper(tmp_path: Path) -> Path:
    """A static ``sleep`` (busybox's) on the host, for a container that keeps running."""
    directory = tmp_path / "sleeper"
    directory.mkdir()
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy(busybox, directory / "busybox")
    (directory / "sleep").symlink_to("busybox")
    return directory


def test_debug_of_nothing_is_one_line(cli: Cli, root: Path) -> None:
    result = cli.subprocess("debug", "ghost:1")
    assert result.exit_code == 4
    assert len(result.stderr.splitlines()) == 1 and "ghost" in result.stderr
    cli.subprocess("run", "--name", "over", "--entrypoint", "/myapp", APP).check()
    stopped = cli.subprocess("debug", "over")
    assert stopped.exit_code == 10
    assert stopped.stderr.splitlines() == [
        "error: container over is not running (it exited with code 0); cannot debug it "
        "(debug its image instead)"
    ]
    cli.subprocess("rm", "over").check()
