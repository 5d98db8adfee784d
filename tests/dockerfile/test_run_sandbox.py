"""RUN steps in the real runc sandbox: what the step sees, and what its layer keeps.

The base is a static busybox alone (``/bin/sh``), so the root has no ``/dev``, ``/proc``,
``/sys`` or ``/etc`` of its own: every mount point the runtime needs is made for the step.
"""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from distroless.layers.entry import Entry, EntryType
from distroless.store import Store
from tests.dockerfile.executor_helpers import build, shell_store, static_busybox
from tests.helpers.images import store_image

# The RUN base has a shell, as a builder stage does.
pytestmark = [pytest.mark.integration, pytest.mark.unsafe_images]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return shell_store(tmp_path / "store")


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    root.mkdir()
    return root


def _run_layer(store: Store, ctx: Path, dockerfile: str) -> dict[str, tuple[str, int, int, int]]:
    """The last layer's entries: path -> (kind, mode, uid, gid)."""
    built = build(store, ctx, dockerfile)
    layer = built.layers()[-1]
    return {
        path: (
            "dir" if info.isdir() else "file" if info.isreg() else "other",
            stat.S_IMODE(info.mode),
            info.uid,
            info.gid,
        )
        for path, (info, _) in layer.items()
    }


def test_a_run_on_a_root_without_kernel_directories_keeps_them_empty(
    store: Store, ctx: Path
) -> None:
    layer = _run_layer(store, ctx, "FROM shell\nRUN echo made > /made.txt\n")
    assert layer == {
        "dev": ("dir", 0o755, 0, 0),
        "made.txt": ("file", 0o644, 0, 0),
        "proc": ("dir", 0o755, 0, 0),
        "sys": ("dir", 0o755, 0, 0),
    }  # /etc, made only for /etc/hosts and /etc/resolv.conf, is not kept


def test_a_run_on_a_root_with_kernel_directories_leaves_them_alone(store: Store, ctx: Path) -> None:
    # the first step's layer gives the root its /dev, /proc and /sys
    layer = _run_layer(store, ctx, "FROM shell\nRUN echo one > /one\nRUN echo two > /two\n")
    assert layer == {"two": ("file", 0o644, 0, 0)}


_IDENTITY = (
    "RUN{flag} hostname > /hostname.txt && cat /etc/hosts > /hosts.txt && "
    "env > /env.txt && "
    "(test -e /etc/hostname && echo present || echo none) > /etc-hostname.txt\n"
)


@pytest.mark.parametrize("network", ["default", "none", "host"])
def test_a_run_sees_buildkits_sandbox_name_and_hosts_never_the_hosts(
    store: Store, ctx: Path, network: str
) -> None:
    flag = "" if network == "default" else f" --network={network}"
    built = build(
        store, ctx, "FROM shell\n" + _IDENTITY.format(flag=flag),
        allow=frozenset({"network.host"}),
    )  # fmt: skip
    files = built.files()
    assert files["hostname.txt"][1] == b"buildkitsandbox\n"
    assert files["hosts.txt"][1] == (
        b"127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
    env = (files["env.txt"][1] or b"").decode().splitlines()
    assert env and not any(line.startswith("HOSTNAME=") for line in env)  # none exported
    assert files["etc-hostname.txt"][1] == b"none\n"
    host_name = socket.gethostname().encode()
    if host_name != b"buildkitsandbox":
        texts = [data or b"" for name, (_, data) in files.items() if name.endswith(".txt")]
        assert texts and all(host_name not in text for text in texts)
    assert "etc/hostname" not in files and "etc/hosts" not in files


def test_an_etc_hostname_the_step_writes_is_its_own(store: Store, ctx: Path) -> None:
    layer = _run_layer(store, ctx, "FROM shell\nRUN mkdir -p /etc && echo mine > /etc/hostname\n")
    assert layer["etc/hostname"] == ("file", 0o644, 0, 0)


def test_an_optional_ssh_mount_without_an_agent_leaves_nothing(store: Store, ctx: Path) -> None:
    dockerfile = (
        "FROM shell\nRUN echo base > /base\n"
        'RUN --mount=type=ssh echo "$SSH_AUTH_SOCK" > /sock.txt && '
        "(test -e /run/buildkit && echo present || echo absent) >> /sock.txt\n"
    )
    built = build(store, ctx, dockerfile)
    layer = built.layers()[-1]
    assert sorted(layer) == ["sock.txt"]
    assert layer["sock.txt"][1] == b"/run/buildkit/ssh_agent.0\nabsent\n"


def test_a_heredoc_starting_with_a_shebang_runs_as_a_program(store: Store, ctx: Path) -> None:
    dockerfile = (
        "FROM shell\n"
        "RUN mkdir /out && chmod 777 /out\n"
        "USER 1000\n"
        "RUN <<EOF\n"
        "#!/bin/sh\n"
        'echo "$0 $(id -u)" > /out/shebang.txt\n'
        "ls -ln /dev/pipes >> /out/shebang.txt\n"
        "EOF\n"
    )
    built = build(store, ctx, dockerfile)
    layer = built.layers()[-1]
    assert sorted(layer) == ["out", "out/shebang.txt"]  # nothing of /dev/pipes
    first, listing = (layer["out/shebang.txt"][1] or b"").decode().split("\n", 1)
    assert first == "/dev/pipes/EOF 1000"
    entry = listing.splitlines()[-1].split()  # "-rwxr-xr-x 1 0 0 SIZE DATE EOF"
    assert (entry[0], entry[2], entry[3], entry[-1]) == ("-rwxr-xr-x", "0", "0", "EOF")
    history = [h.created_by for h in built.result.config.history]
    assert history[-1] == "RUN /bin/sh -c /dev/pipes/EOF"


def test_a_run_on_a_base_of_a_hundred_layers_runs(store: Store, ctx: Path) -> None:
    busybox = static_busybox()
    size = busybox.stat().st_size
    shell = [
        Entry.directory("bin"),
        Entry("bin/sh", EntryType.FILE, mode=0o755, size=size, opener=lambda: busybox.open("rb")),
    ]
    layers = [shell] + [[Entry.file(f"layers/{i:03d}", f"{i}\n".encode())] for i in range(99)]
    store_image(store, "many:latest", layers)
    dockerfile = "FROM many\nRUN ls /layers | wc -l > /count.txt && cat /layers/098 > /last.txt\n"
    built = build(store, ctx, dockerfile)
    assert len(built.layers()) == 101
    files = built.layers()[-1]
    assert (files["count.txt"][1], files["last.txt"][1]) == (b"99\n", b"98\n")
