"""``build --ssh``: a real ``ssh-agent``'s socket forwarded to ``RUN --mount=type=ssh``.

The socket is bind-mounted at the mount's target for that one step: the step finds a
socket there, the layer keeps nothing of it, and the agent is no part of the cache key
(a rebuild without the agent reuses the step, as BuildKit does).
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from distroless.store import Store
from tests.dockerfile.executor_helpers import busybox_image, image_layers, static_busybox
from tests.helpers.cli import Cli
from tests.helpers.proc import wait_until
from tests.helpers.refusal import store_state
from tests.helpers.require import require_tool

pytestmark = [pytest.mark.integration, pytest.mark.unsafe_images]

PROBE = (
    '(test -S "$SSH_AUTH_SOCK" && echo socket || echo none) > /probe.txt '
    "&& (test -e /run/buildkit && echo run-dir || echo no-run-dir) >> /probe.txt"
)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Path]:
    """An ``ssh-agent`` listening on a socket under ``tmp_path``; stopped afterwards."""
    binary = require_tool("ssh-agent")
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(
        [binary, "-D", "-a", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(
            lambda: sock.exists() and stat.S_ISSOCK(sock.stat().st_mode),
            timeout=30,
            what="ssh-agent's socket",
            abort=lambda: None if proc.poll() is None else "ssh-agent exited",
        )
        yield sock
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.fixture
def shell_cli(cli: Cli) -> Cli:
    require_tool("runc")
    static_busybox()
    busybox_image(Store(cli.root), "shell:latest")
    return cli


def _last_layer(cli: Cli, name: str) -> dict[str, bytes | None]:
    store = Store(cli.root)
    layers = image_layers(store, store.resolve(name))
    return {path: content for path, (_, content) in layers[-1].items()}


def test_default_forwards_ssh_auth_sock(shell_cli: Cli, agent: Path, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM shell\nRUN echo base > /base\nRUN --mount=type=ssh {PROBE}\n"
    )
    shell_cli(
        "build", "-q", "-t", "ssh:1", "--ssh", "default", ctx, env={"SSH_AUTH_SOCK": str(agent)}
    ).check()
    layer = _last_layer(shell_cli, "ssh:1")
    assert sorted(layer) == ["probe.txt"]  # nothing of the socket or of /run/buildkit
    assert layer["probe.txt"] == b"socket\nrun-dir\n"


def test_an_id_and_a_target(shell_cli: Cli, agent: Path, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM shell\nRUN echo base > /base\n"
        "RUN --mount=type=ssh,id=gh,target=/agent.sock,required "
        'test -S /agent.sock && test "$SSH_AUTH_SOCK" = /agent.sock && echo ok > /ok.txt\n'
    )
    shell_cli("build", "-q", "-t", "ssh:2", "--ssh", f"gh={agent}", ctx).check()
    assert _last_layer(shell_cli, "ssh:2") == {"ok.txt": b"ok\n"}


def test_the_agent_is_not_part_of_the_cache_key(
    shell_cli: Cli, agent: Path, tmp_path: Path
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM shell\nRUN echo base > /base\nRUN --mount=type=ssh {PROBE}\n"
    )
    first = shell_cli("build", "-q", "--ssh", f"default={agent}", ctx).check().stdout
    again = shell_cli("build", "--progress", "plain", ctx).check()
    assert "CACHED RUN" in again.stderr
    assert again.stdout.split()[-1] == first.strip()


def test_required_without_an_agent_names_the_flag(shell_cli: Cli, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM shell\nRUN --mount=type=ssh,required true\n")
    shell_cli("images").check()
    before = store_state(shell_cli.root)
    result = shell_cli("build", "-q", ctx)
    assert result.exit_code != 0
    assert "Dockerfile:2" in result.stderr and "--ssh default" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert store_state(shell_cli.root) == before


def test_default_without_ssh_auth_sock_is_a_usage_error(shell_cli: Cli, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM shell\n")
    result = shell_cli("build", "--ssh", "default", ctx, env={"SSH_AUTH_SOCK": None})
    assert result.exit_code == 2
    assert "SSH_AUTH_SOCK is not set" in result.stderr
