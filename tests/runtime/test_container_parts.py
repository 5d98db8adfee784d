"""The parts of the container commands that need no runtime: records, names, signals,
log tails, the console socket's file descriptor passing, generated specs, help texts."""

from __future__ import annotations

import io
import os
import signal
import socket
import threading
from pathlib import Path

import pytest

from distroless import errors
from distroless.cli.container_cmds import human_duration
from distroless.errors import NotFoundError, UsageError
from distroless.runtime.console import ConsoleSocket, TerminalGone, pidfd, proxy, window_size
from distroless.runtime.debug import _debug_spec, extended_path
from distroless.runtime.lifecycle import parse_signal
from distroless.runtime.logs import _tail_offset
from distroless.runtime.options import Mount, RunOptions
from distroless.runtime.records import ContainerRecord, find_state, read_record, write_record
from distroless.runtime.spec import INIT_PATH, ProcessSpec, build_spec, process_env
from distroless.runtime.supervisor import options_from_json, options_to_json
from distroless.runtime.users import ResolvedUser
from tests.helpers import Cli


def _record(state: Path, hex_id: str) -> None:
    state.mkdir(parents=True)
    write_record(state, ContainerRecord(hex_id, state.name, "img:1", "sha256:" + "0" * 64, ("x",)))


def test_containers_are_found_by_name_id_or_unique_prefix(tmp_path: Path) -> None:
    _record(tmp_path / "web", "ab" * 32)
    _record(tmp_path / "db", "ac" * 32)
    assert find_state(tmp_path, "web") == tmp_path / "web"
    assert find_state(tmp_path, "ab" * 32) == tmp_path / "web"
    assert find_state(tmp_path, "aca") == tmp_path / "db"
    with pytest.raises(UsageError, match="matches 2 containers"):
        find_state(tmp_path, "a")
    with pytest.raises(NotFoundError, match="no such container: zz"):
        find_state(tmp_path, "zz")
    for bad in ("../web", "", ".."):
        with pytest.raises(UsageError):
            find_state(tmp_path, bad)
    assert read_record(tmp_path / "web") is not None
    (tmp_path / "web" / "container.json").write_text("{not json")
    assert read_record(tmp_path / "web") is None


def test_docker_durations_and_signals() -> None:
    assert [human_duration(s) for s in (0.2, 1, 42, 90, 600, 3600, 7200, 86400 * 3)] == [
        "Less than a second", "1 second", "42 seconds", "About a minute", "10 minutes",
        "About an hour", "2 hours", "3 days",
    ]  # fmt: skip
    assert parse_signal("KILL") == parse_signal("sigkill") == parse_signal("9") == signal.SIGKILL
    for bad in ("NOPE", "0", "999", ""):
        with pytest.raises(UsageError, match="invalid signal"):
            parse_signal(bad)


@pytest.mark.parametrize(
    ("text", "lines", "expected"),
    [
        (b"a\nb\nc\n", 1, b"c\n"),
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 1, b"c"),
        (b"a\nb\nc\n", 10, b"a\nb\nc\n"),
        (b"", 3, b""),
        (b"a\n", 0, b""),
    ],
)
def test_log_tails(text: bytes, lines: int, expected: bytes) -> None:
    fh = io.BytesIO(text)
    fh.seek(_tail_offset(fh, lines))
    assert fh.read() == expected


def test_the_console_socket_receives_a_descriptor_over_scm_rights(tmp_path: Path) -> None:
    console = ConsoleSocket()
    assert len(str(console.path)) < 100
    reader, writer = os.pipe()
    watched_r, watched_w = os.pipe()  # stands in for the runtime's pidfd (never readable)

    def runtime() -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(console.path))
            socket.send_fds(conn, [b"/dev/ptmx"], [writer])

    sender = threading.Thread(target=runtime)
    sender.start()
    try:
        received = console.receive(watched_r)
        sender.join()
        assert received is not None and received != writer
        os.write(received, b"through the socket")
        assert os.read(reader, 100) == b"through the socket"
        os.close(received)
    finally:
        console.close()
        for fd in (reader, writer, watched_r, watched_w):
            os.close(fd)
    assert not console.path.exists()


def test_the_console_socket_gives_up_when_the_runtime_exits() -> None:
    console = ConsoleSocket()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    watch = pidfd(pid)
    try:
        assert console.receive(watch) is None
    finally:
        os.close(watch)
        os.waitpid(pid, 0)
        console.close()


def test_the_proxy_copies_output_and_stops_when_the_terminal_goes() -> None:
    master_r, master_w = os.pipe()  # what the container prints
    out_r, out_w = os.pipe()
    done_r, done_w = os.pipe()
    os.write(master_w, b"hello\r\n")
    os.close(master_w)
    os.write(done_w, b"x")  # the process has ended: drain and return
    proxy(master_r, done_r, stdin=None, stdout=out_w)
    assert os.read(out_r, 100) == b"hello\r\n"
    assert window_size(out_w) is None
    closed_r, closed_w = os.pipe()
    os.write(closed_w, b"more")
    os.close(out_r)
    never_r, never_w = os.pipe()
    with pytest.raises(TerminalGone):
        proxy(closed_r, never_r, stdin=None, stdout=out_w)  # EPIPE: our output is gone
    for fd in (master_r, out_w, done_r, done_w, closed_r, closed_w, never_r, never_w):
        os.close(fd)


def test_terminal_and_init_in_the_spec(tmp_path: Path) -> None:
    env = process_env(("PATH=/bin",), {}, hostname="h", home="/root", terminal=True)
    assert "TERM=xterm" in env
    assert "TERM=vt100" in process_env(("TERM=vt100",), {}, hostname="h", home="/", terminal=True)
    spec = build_spec(
        process=ProcessSpec(("/app",), env, "/", ResolvedUser(0, 0)),
        rootfs=tmp_path, hostname="h", network="none", container_id="c", etc_files={},
        terminal=True, init=Path("/usr/bin/tini-static"),
    )  # fmt: skip
    assert spec["process"]["terminal"] is True
    assert spec["process"]["args"] == [INIT_PATH, "--", "/app"]
    assert spec["process"]["noNewPrivileges"] is True
    init = [m for m in spec["mounts"] if m["destination"] == INIT_PATH]
    assert init == [{"destination": INIT_PATH, "type": "bind", "source": "/usr/bin/tini-static",
                     "options": ["rbind", "rprivate", "ro", "nosuid", "nodev"]}]  # fmt: skip


def test_a_debug_container_joins_the_target_and_keeps_its_confinement(tmp_path: Path) -> None:
    target = build_spec(
        process=ProcessSpec(("/app",), ("PATH=/usr/bin", "A=1"), "/srv", ResolvedUser(65532, 65532)),  # noqa: E501
        rootfs=tmp_path, hostname="web", network="none", container_id="web", etc_files={},
        seccomp={"defaultAction": "SCMP_ACT_ERRNO"},
    )  # fmt: skip
    spec = _debug_spec(target, 4242, tmp_path, Path("/cache/toolbox"), "dbg", ["/.debug/sh"], True)
    assert spec["linux"]["namespaces"] == [
        {"type": "pid", "path": "/proc/4242/ns/pid"},
        {"type": "ipc", "path": "/proc/4242/ns/ipc"},
        {"type": "uts", "path": "/proc/4242/ns/uts"},
        {"type": "network", "path": "/proc/4242/ns/net"},
        {"type": "mount"},
    ]
    assert spec["linux"]["seccomp"] == {"defaultAction": "SCMP_ACT_ERRNO"}
    assert spec["process"]["capabilities"] == target["process"]["capabilities"]
    assert spec["process"]["user"] == {"uid": 65532, "gid": 65532}
    assert spec["process"]["cwd"] == "/srv" and spec["process"]["noNewPrivileges"] is True
    assert spec["process"]["env"] == ["A=1", "PATH=/usr/bin:/.debug", "TERM=xterm"]
    assert "hostname" not in spec and spec["linux"]["cgroupsPath"] == "/distroless/dbg"
    assert spec["mounts"][-1]["destination"] == "/.debug"
    assert "ro" in spec["mounts"][-1]["options"]
    assert target["linux"]["namespaces"][0] == {"type": "pid"}  # the target's is untouched
    assert (
        extended_path([]) == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/.debug"
    )


def test_background_options_survive_the_trip_to_the_supervisor() -> None:
    options = RunOptions(
        args=("a", "b"), entrypoint=(), env={"K": "V"}, user="65532", workdir="/w",
        mounts=(Mount(Path("/h"), "/c", True),), network="none", name="n", remove=True,
        seccomp=False, tty=True, init=True,
    )  # fmt: skip
    assert options_from_json(options_to_json(options)) == options


COMMANDS = ("run", "ps", "logs", "stop", "kill", "rm", "exec", "wait", "debug")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_examples(cli: Cli, command: str) -> None:
    text = cli(command, "--help").check().stdout
    tail = text[text.rindex("Examples:") :].splitlines()[1:]
    examples = [line.strip() for line in tail if line.strip()]
    assert 2 <= len(examples) <= 3
    assert all(line.startswith(("distroless ", "code=$(distroless")) for line in examples)


def test_main_help_lists_every_exit_code(cli: Cli) -> None:
    text = cli("--help").check().stdout
    table = text[text.index("Exit codes:") :]
    codes = {
        cls.exit_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.DistrolessError)
    }
    for code in sorted(codes | {0, 130}):
        assert f"\n    {code:>3}  " in table
