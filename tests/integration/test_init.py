"""``run --init``: the host's static tini as PID 1, with the real runc."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from distroless.oci.models import ContainerConfig
from distroless.store import Store
from tests.helpers import Cli, distroless_executable, require_root, require_tool
from tests.runtime.containers import container_states, mounts_under
from tests.runtime.images import base_entries, build_probe, write_image

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_root()
    require_tool("runc")
    require_tool("tini-static")
    base = tmp_path_factory.mktemp("init")
    store = Store(base / "store")
    probe = build_probe(base / "probe")
    write_image(store, "probe:latest", [base_entries(probe)],
                ContainerConfig(entrypoint=("/probe",)))  # fmt: skip
    return store.root


def test_abandoned_children_leave_no_zombies_under_init(root: Path) -> None:
    cli = Cli(root)
    bare = cli.subprocess("run", "--rm", "--network", "none", "probe:latest", "orphans", "4")
    assert bare.check().stdout == "pid 1, zombies: 4\n"  # PID 1 that never reaps
    under = cli.subprocess("run", "--rm", "--init", "--network", "none", "probe:latest",
                           "orphans", "4").check()  # fmt: skip
    pid, zombies = under.stdout.split(", ")
    assert pid != "pid 1" and zombies == "zombies: 0\n"
    assert container_states(root) == [] and mounts_under(root) == []


def test_sigterm_reaches_the_program_through_init(root: Path) -> None:
    proc = subprocess.Popen(
        [str(distroless_executable()), "--root", str(root), "run", "--rm", "--init",
         "--network", "none", "probe:latest", "wait-signal"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.stdout.read() == "got terminated\n"
        assert proc.wait(timeout=60) == 42  # tini exits with its child's code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert container_states(root) == []


def test_init_is_confined_and_not_in_the_image(root: Path) -> None:
    cli = Cli(root)
    digest = Store(root).resolve("probe:latest").digest
    status = cli.subprocess("run", "--rm", "--init", "--network", "none", "probe:latest", "cat",
                            "/proc/1/status").check().stdout  # fmt: skip
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["Name"] == "init"
    assert (fields["NoNewPrivs"], fields["Seccomp"]) == ("1", "2")
    assert int(fields["CapEff"], 16) & (1 << 13) == 0  # no CAP_NET_RAW for tini either
    cmdline = cli.subprocess("run", "--rm", "--init", "--network", "none", "probe:latest",
                             "cat", "/proc/1/cmdline").check().stdout  # fmt: skip
    assert cmdline.split("\0")[:3] == ["/dev/init", "--", "/probe"]
    write = cli.subprocess("run", "--rm", "--init", "--network", "none", "probe:latest",
                           "write", "/dev/init", "x")  # fmt: skip
    assert write.exit_code == 2 and "read-only file system" in write.stdout
    # the image's own root has no trace of it: a kept container's writable layer is empty
    cli.subprocess("run", "--init", "--name", "kept", "--network", "none", "probe:latest",
                   "hello").check()  # fmt: skip
    upper = root / "state" / "containers" / "kept" / "upper"
    assert not (upper / "dev" / "init").exists()
    assert Store(root).resolve("probe:latest").digest == digest
    cli.subprocess("rm", "kept").check()
