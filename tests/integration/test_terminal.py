"""``run -it`` and ``exec -it`` under a real pseudo-terminal driven with pexpect.

The terminal pexpect gives the ``distroless`` command is ours; the container's is the
one runc made and sent over the console socket.  The shell is busybox's in
``distroless/static:debug``, built from its recipe with the persistent package cache.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.helpers import Cli, distroless_executable, require_root, require_tool, wait_until
from tests.runtime.containers import container_states, in_foreground, mounts_under, runtime_ids

pytestmark = [pytest.mark.integration]

STATIC_DEBUG = "distroless/static:debug"
PROMPT = r"/ # "


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, package_cache: Path) -> Path:
    require_root()
    require_tool("runc")
    require_tool("slirp4netns")
    store = tmp_path_factory.mktemp("terminal") / "store"
    Cli(store)("bases", "build", "static:debug", "--arch", "amd64",
               env={"DISTROLESS_CACHE": str(package_cache)}).check()  # fmt: skip
    return store


def _spawn(root: Path, *args: str) -> pexpect.spawn[str]:
    env = dict(os.environ)
    env["TERM"] = "xterm"
    child = pexpect.spawn(
        str(distroless_executable()), ["--root", str(root), *args],
        env=env, timeout=60, encoding="utf-8", dimensions=(24, 80),
    )  # fmt: skip
    return child


@pytest.fixture
def sessions(root: Path) -> Iterator[list[pexpect.spawn[str]]]:
    """Sessions a test starts; one it leaves is killed, and its container reaped."""
    spawned: list[pexpect.spawn[str]] = []
    yield spawned
    for child in spawned:
        if child.isalive():
            child.close(force=True)
    Cli(root).subprocess("ps")  # every command reaps the containers of killed ones


def test_run_it_gives_a_shell_with_a_terminal(
    root: Path, sessions: list[pexpect.spawn[str]]
) -> None:
    child = _spawn(root, "run", "-it", "--rm", STATIC_DEBUG)
    sessions.append(child)
    child.expect(PROMPT)
    child.sendline("echo $((6*7))")
    child.expect(r"\r\n42\r\n")
    child.expect(PROMPT)
    child.sendline("tty; echo TERM=$TERM")
    child.expect(r"\r\n/dev/pts/\d+\r\nTERM=xterm\r\n")
    child.expect(PROMPT)
    child.sendline("stty size")
    child.expect(r"\r\n24 80\r\n")
    child.expect(PROMPT)
    child.setwinsize(40, 120)  # SIGWINCH to us: the container's terminal follows
    child.sendline("stty size")
    child.expect(r"\r\n40 120\r\n")
    child.expect(PROMPT)
    # Ctrl-C reaches the foreground job through the container's line discipline
    child.sendline("sleep 6001")
    wait_until(lambda: in_foreground("sleep 6001"), timeout=60, what="sleep in the foreground")
    child.sendcontrol("c")
    child.expect(PROMPT)
    child.sendline("echo code=$?")
    child.expect("code=130")
    child.expect(PROMPT)
    # job control: a background job, listed by the shell
    child.sendline("sleep 600 &")
    child.expect(PROMPT)
    child.sendline("jobs")
    child.expect(r"\[1\]\+\s+Running\s+sleep 600")
    child.expect(PROMPT)
    child.sendline("kill %1; exit 3")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    assert container_states(root) == [] and runtime_ids(root) == []
    assert mounts_under(root) == []


def test_ctrl_d_ends_the_shell(root: Path, sessions: list[pexpect.spawn[str]]) -> None:
    child = _spawn(root, "run", "-it", "--rm", STATIC_DEBUG)
    sessions.append(child)
    child.expect(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert container_states(root) == []


def test_run_t_without_i_prints_through_a_terminal(root: Path) -> None:
    child = _spawn(root, "run", "-t", "--rm", STATIC_DEBUG, "-c", "tty; exit 4")
    child.expect(r"^/dev/pts/\d+\r\n")  # one \r: our terminal adds none of its own
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 4


def test_exec_it_in_a_background_shell(root: Path, sessions: list[pexpect.spawn[str]]) -> None:
    cli = Cli(root)
    cli.subprocess("run", "-d", "-it", "--name", "shell", STATIC_DEBUG).check()
    try:
        listed = cli.subprocess("ps", "--json").check().json()
        assert isinstance(listed, list) and listed[0]["status"] == "running"
        child = _spawn(root, "exec", "-it", "shell", "sh")
        sessions.append(child)
        child.expect(PROMPT)
        child.sendline("tty; echo pid1=$(cat /proc/1/comm) me=$$")
        child.expect(r"/dev/pts/\d+\r\npid1=sh me=(\d+)\r\n")  # the container's shell is PID 1
        match = child.match
        assert isinstance(match, re.Match) and match.group(1) != "1"
        child.sendline("exit 7")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 7
        logged = cli.subprocess("logs", "shell").check().stdout
        assert PROMPT in logged  # the background shell's terminal output went to its log
    finally:
        cli.subprocess("rm", "-f", "shell").check()
    assert container_states(root) == []


def test_it_without_a_terminal_is_refused(root: Path) -> None:
    cli = Cli(root)
    for args in (("run", "-it", "--rm", STATIC_DEBUG), ("exec", "-it", "nothing", "sh")):
        result = cli.subprocess(*args)  # stdin is no terminal here
        assert result.exit_code == 2, args
        assert result.stderr.splitlines() == [
            "error: the input device is not a TTY; drop -t, or run from a terminal"
        ]
    assert container_states(root) == []


def test_piped_stdin_reaches_run_i_and_exec_i(root: Path) -> None:
    """``-i`` without ``-t`` copies a pipe to the container; without ``-i`` stdin is empty."""
    cli = Cli(root)
    script = "cat; echo done"
    piped = cli.subprocess("run", "-i", "--rm", STATIC_DEBUG, "-c", script, input="hello\nworld\n")
    assert piped.check().stdout == "hello\nworld\ndone\n"
    closed = cli.subprocess("run", "--rm", STATIC_DEBUG, "-c", script, input="hello\n")
    assert closed.check().stdout == "done\n"  # as docker: stdin is /dev/null without -i
    # more than a pipe holds, so the copy must stream while the container reads
    data = "".join(f"line {n:07d}\n" for n in range(100_000))
    counted = cli.subprocess("run", "-i", "--rm", STATIC_DEBUG, "-c", "wc -c; exit 5", input=data)
    assert (counted.exit_code, counted.stdout.split()) == (5, [str(len(data))])

    cli.subprocess("run", "-d", "--name", "piped", STATIC_DEBUG, "-c", "sleep 6000").check()
    try:
        inside = cli.subprocess("exec", "-i", "piped", "sh", "-c", script, input="one\ntwo\n")
        assert inside.check().stdout == "one\ntwo\ndone\n"
        shut = cli.subprocess("exec", "piped", "sh", "-c", script, input="one\n")
        assert shut.check().stdout == "done\n"
        counted = cli.subprocess("exec", "-i", "piped", "sh", "-c", "wc -c; exit 6", input=data)
        assert (counted.exit_code, counted.stdout.split()) == (6, [str(len(data))])
    finally:
        cli.subprocess("rm", "-f", "piped").check()
    assert container_states(root) == [] and runtime_ids(root) == []
    assert mounts_under(root) == []
