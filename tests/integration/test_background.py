"""Background containers with the real runc: ``run -d``, ``ps``, ``logs``, ``exec``,
``stop``, ``kill``, ``wait``, ``rm``, and their state surviving the command.

One store per module holds ``distroless/python3`` (built from its recipe with the
persistent package cache) and the runtime tests' ``probe`` image.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from distroless.oci.models import ContainerConfig
from distroless.store import Store
from tests.helpers import Cli, free_port, require_root, require_tool, wait_until
from tests.runtime.containers import (
    alive,
    container_states,
    mounts_under,
    owner_pid,
    processes_mentioning,
    runtime_ids,
)
from tests.runtime.images import base_entries, build_probe, write_image

pytestmark = [pytest.mark.integration]

PYTHON3 = "distroless/python3:latest"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, package_cache: Path) -> Path:
    require_root()
    require_tool("runc")
    require_tool("slirp4netns")
    base = tmp_path_factory.mktemp("background")
    store = Store(base / "store")
    probe = build_probe(base / "probe")
    write_image(store, "probe:latest", [base_entries(probe)],
                ContainerConfig(entrypoint=("/probe",)))  # fmt: skip
    return store.root


@pytest.fixture(scope="module")
def python_root(root: Path, package_cache: Path) -> Path:
    cli = Cli(root)
    cli("bases", "build", "python3:latest", "--arch", "amd64",
        env={"DISTROLESS_CACHE": str(package_cache)}).check()  # fmt: skip
    return root


@pytest.fixture
def cli(root: Path) -> Cli:
    return Cli(root)


def _ps(cli: Cli, *flags: str) -> dict[str, dict[str, object]]:
    rows = cli.subprocess("ps", "--json", *flags).check().json()
    assert isinstance(rows, list)
    return {str(r["name"]): r for r in rows}


def _fetch(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return None


def test_a_python_web_server_in_the_background(python_root: Path, tmp_path: Path) -> None:
    cli = Cli(python_root)
    port = free_port()
    (tmp_path / "index.html").write_text("served from the container\n")
    started = cli.subprocess(
        "run", "-d", "--name", "web", "--network", "host", "-v", f"{tmp_path}:/srv:ro",
        "-w", "/srv", PYTHON3, "-m", "http.server", str(port), "--bind", "127.0.0.1",
    ).check()  # fmt: skip
    hex_id = started.stdout.strip()
    assert len(hex_id) == 64 and int(hex_id, 16) >= 0
    supervisor = owner_pid(python_root, "web")
    try:
        wait_until(lambda: _fetch(port) is not None, timeout=60, what="the web server")
        assert _fetch(port) == "served from the container\n"

        listed = _ps(cli)
        assert listed["web"]["status"] == "running" and listed["web"]["id"] == hex_id
        pid = int(str(listed["web"]["pid"]))
        assert alive(pid)
        table = cli.subprocess("ps").check().stdout.splitlines()
        assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                    "NAMES"]  # fmt: skip
        assert table[1].startswith(hex_id[:12]) and "Up " in table[1] and table[1].endswith("web")

        logs = cli.subprocess("logs", "web").check()
        assert '"GET / HTTP/1.1" 200' in logs.stderr  # http.server logs to its stderr
        assert cli.subprocess("logs", hex_id[:8]).check().stderr == logs.stderr

        inside = cli.subprocess(
            "exec", "web", "python3", "-c", "import os; print(6 * 7, os.getcwd(), os.getppid())"
        ).check()
        assert inside.stdout.split() == ["42", "/srv", "0"]  # joined from outside its PID ns

        begun = time.monotonic()
        cli.subprocess("stop", "-t", "3", "web").check()
        assert time.monotonic() - begun < 3 + 15  # the timeout, then SIGKILL
        assert not alive(pid)
        gone = _ps(cli, "-a")["web"]
        # python as PID 1 has no SIGTERM handler, so only the SIGKILL ends it, as in docker
        assert (gone["status"], gone["exit_code"]) == ("exited", 137)
        assert "web" not in _ps(cli)
        assert "Exited (137)" in cli.subprocess("ps", "-a").check().stdout
        assert _fetch(port) is None
        assert cli.subprocess("wait", "web").check().stdout.strip() == "137"
        assert '"GET / HTTP/1.1" 200' in cli.subprocess("logs", "web").check().stderr
    finally:
        cli.subprocess("rm", "-f", "web")
    assert container_states(python_root) == []
    assert mounts_under(python_root) == []
    assert runtime_ids(python_root) == []
    assert not alive(supervisor)
    assert processes_mentioning(f"http.server {port}") == []


def test_the_state_survives_the_command_and_records_a_lone_exit(cli: Cli, root: Path,
                                                               tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    cli.subprocess("run", "-d", "--name", "lone", "--network", "none", "-v", f"{out}:/out",
                   "probe:latest", "hold", "/out/ready").check()  # fmt: skip
    wait_until((out / "ready").exists, timeout=60, what="the container")
    pid = int(str(_ps(cli)["lone"]["pid"]))
    os.kill(pid, signal.SIGKILL)  # it dies while no distroless command runs
    wait_until(lambda: (root / "state/containers/lone/exit.json").exists(), timeout=60,
               what="the supervisor's record")  # fmt: skip
    assert _ps(cli, "-a")["lone"]["exit_code"] == 137
    assert mounts_under(root / "state" / "containers" / "lone") == []  # unmounted at exit
    cli.subprocess("rm", "lone").check()
    assert container_states(root) == []


def test_a_killed_supervisor_leaves_an_exited_container(cli: Cli, root: Path) -> None:
    cli.subprocess("run", "-d", "--name", "orphan", "--network", "none", "probe:latest",
                   "hold", "/tmp/ready").check()  # fmt: skip
    pid = int(str(_ps(cli)["orphan"]["pid"]))
    os.kill(owner_pid(root, "orphan"), signal.SIGKILL)
    listed = _ps(cli, "-a")["orphan"]  # the next command reaps: kills it, keeps its record
    assert (listed["status"], listed["exit_code"]) == ("exited", 137)
    assert "died" in str(listed["error"])
    assert not alive(pid)
    assert mounts_under(root / "state" / "containers" / "orphan") == []
    assert "orphan" not in runtime_ids(root)
    cli.subprocess("rm", "orphan").check()


def test_rm_keeps_nothing_of_a_detached_rm_container(cli: Cli, root: Path) -> None:
    cli.subprocess("run", "-d", "--rm", "--name", "brief", "--network", "none",
                   "probe:latest", "wait-signal").check()  # fmt: skip
    assert _ps(cli)["brief"]["status"] == "running"
    cli.subprocess("kill", "-s", "TERM", "brief").check()
    wait_until(lambda: "brief" not in container_states(root), timeout=60, what="--rm")
    assert runtime_ids(root) == [] and mounts_under(root) == []


def test_logs_follow_ends_with_the_container(cli: Cli, root: Path) -> None:
    cli.subprocess("run", "-d", "--name", "talker", "--network", "none", "probe:latest",
                   "wait-signal").check()  # fmt: skip
    follower = subprocess.Popen(
        [*_argv(root), "logs", "-f", "talker"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline() == "ready\n"
        cli.subprocess("kill", "-s", "INT", "talker").check()
        assert follower.stdout.read() == "got interrupt\n"
        assert follower.wait(timeout=60) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
    assert cli.subprocess("wait", "talker").check().stdout.strip() == "42"
    assert cli.subprocess("logs", "--tail", "1", "talker").check().stdout == "got interrupt\n"
    cli.subprocess("rm", "talker").check()


def _argv(root: Path) -> list[str]:
    from tests.helpers import distroless_executable

    return [str(distroless_executable()), "--root", str(root)]


def test_exec_and_run_d_keep_the_sandbox(cli: Cli, root: Path) -> None:
    cli.subprocess("run", "-d", "--name", "boxed", "probe:latest", "hold", "/tmp/r").check()
    try:
        # the private network of the container, not the host's
        assert cli.subprocess("exec", "boxed", "/probe", "netdevs").check().stdout.split() == [
            "lo", "tap0"]  # fmt: skip
        lines = cli.subprocess("exec", "boxed", "/probe", "status", "NoNewPrivs", "Seccomp",
                               "CapEff").check().stdout.splitlines()  # fmt: skip
        status = dict(line.split(": ") for line in lines)
        first = cli.subprocess("exec", "boxed", "/probe", "cat", "/proc/1/status").check()
        assert (status["NoNewPrivs"], status["Seccomp"]) == ("1", "2")
        cap_eff = next(ln for ln in first.stdout.splitlines() if ln.startswith("CapEff:"))
        assert status["CapEff"] == cap_eff.split()[1]  # the same capabilities as PID 1
        assert int(status["CapEff"], 16) & (1 << 13) == 0  # no CAP_NET_RAW
        userns = cli.subprocess("exec", "-u", "65532", "boxed", "/probe", "userns-mount")
        assert userns.exit_code == 3 and "operation not permitted" in userns.stdout
        ident = cli.subprocess("exec", "-u", "nonroot", "-e", "X=1", "boxed", "/probe", "env",
                               "X").check()  # fmt: skip
        assert ident.stdout == "X=1\n"
        assert cli.subprocess("exec", "boxed", "/probe", "exit", "5").exit_code == 5
    finally:
        cli.subprocess("rm", "-f", "boxed").check()


def test_bad_container_commands_are_one_line_errors(cli: Cli, root: Path) -> None:
    before = container_states(root)
    for args, code, message in (
        (("logs", "ghost"), 4, "error: no such container: ghost"),
        (("exec", "ghost", "/probe"), 4, "error: no such container: ghost"),
        (("stop", "ghost"), 4, "error: no such container: ghost"),
        (("kill", "-s", "NOPE", "ghost"), 2, "error: invalid signal 'NOPE': use a name such as "
         "TERM or KILL, or a number"),
    ):  # fmt: skip
        result = cli.subprocess(*args)
        assert (result.exit_code, result.stderr.splitlines()) == (code, [message]), args
    cli.subprocess("run", "--name", "done", "--network", "none", "probe:latest", "exit", "4")
    stopped = cli.subprocess("exec", "done", "/probe", "hello")
    assert stopped.exit_code == 10
    assert stopped.stderr.splitlines() == [
        "error: container done is not running (it exited with code 4); cannot run a process in it"
    ]
    killed = cli.subprocess("kill", "done")
    assert killed.exit_code == 10 and len(killed.stderr.splitlines()) == 1
    assert cli.subprocess("wait", "done").check().stdout == "4\n"
    assert _ps(cli, "-a")["done"]["exit_code"] == 4
    cli.subprocess("run", "-d", "--name", "busy", "--network", "none", "probe:latest",
                   "hold", "/tmp/r").check()  # fmt: skip
    refused = cli.subprocess("rm", "busy")
    assert refused.exit_code == 10
    assert refused.stderr.splitlines() == [
        "error: container busy is running: stop it first, or use rm -f"
    ]
    taken = cli.subprocess("run", "-d", "--name", "busy", "probe:latest")
    assert taken.exit_code == 10 and "already exists" in taken.stderr
    cli.subprocess("rm", "-f", "busy", "done").check()
    assert container_states(root) == before
    bad_exe = cli.subprocess("run", "-d", "--entrypoint", "/nope", "probe:latest")
    assert bad_exe.exit_code == 10
    assert bad_exe.stderr.splitlines() == ["error: '/nope' was not found in the image"]
    assert json.loads(cli.subprocess("ps", "-a", "--json").check().stdout) == []
