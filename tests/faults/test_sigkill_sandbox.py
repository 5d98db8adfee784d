"""SIGKILL of a real ``distroless run`` and ``distroless build`` while their container runs.

The killed command cannot clean up: its container would run on, its overlay stay mounted
and its state stay on disk.  The next ``run``, ``build`` or ``prune`` reaps all of it.
Build secrets are never on a disk in the first place, neither while the step runs nor
after the kill: not in ``/dev/shm``, not in the store, not in the step's ``config.json``.
The tests wait for the container to be running (a file it creates) before killing.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from distroless.oci.models import ContainerConfig
from distroless.store import Store
from tests.faults.support import command
from tests.helpers import require_root, require_tool
from tests.helpers.images import store_image
from tests.helpers.proc import wait_until
from tests.runtime.images import base_entries, build_probe

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_root()
    require_tool("runc")
    require_tool("slirp4netns")
    return build_probe(tmp_path_factory.mktemp("probe"))


@pytest.fixture
def root(tmp_path: Path, probe: Path) -> Path:
    store = Store(tmp_path / "store")
    store_image(store, "probe:latest", [base_entries(probe)],
                ContainerConfig(entrypoint=("/probe",)))  # fmt: skip
    return store.root


def _runtime_ids() -> dict[str, str]:
    """Container id -> status, as runc knows them (every container on the host)."""
    proc = subprocess.run(
        [str(require_tool("runc")), "list", "--format", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {c["id"]: c["status"] for c in json.loads(proc.stdout or "[]") or []}


def _mounts_under(path: Path) -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4] for line in lines if str(path) in line.split()[4]]


def _states(root: Path) -> list[str]:
    found = []
    for kind in ("containers", "build"):
        directory = root / "state" / kind
        if directory.is_dir():
            found += [p.name for p in directory.iterdir()]
    return found


@pytest.fixture
def killed() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; whatever it leaves is cleaned up after it."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _start_and_kill(argv: list[str], ready: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    procs.append(proc)

    def exited() -> str | None:
        if proc.poll() is None:
            return None
        assert proc.stderr is not None
        return f"exited {proc.returncode}: {proc.stderr.read().decode()}"

    wait_until(ready.exists, timeout=120, what=f"{ready} from the container", abort=exited)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _assert_reaped(root: Path, ids: list[str]) -> None:
    running = _runtime_ids()
    assert [i for i in ids if i in running] == []
    assert _mounts_under(root) == []
    assert _states(root) == []


def test_next_run_reaps_a_killed_run(
    root: Path, tmp_path: Path, killed: list[subprocess.Popen[bytes]]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    argv = command(root, "run", "--rm", "-v", f"{out}:/out", "probe:latest", "hold", "/out/ready")
    _start_and_kill(argv, out / "ready", killed)
    ids = _states(root)
    assert len(ids) == 1
    assert _runtime_ids().get(ids[0]) == "running"  # the kill left it running
    assert _mounts_under(root / "state" / "containers") != []

    subprocess.run(command(root, "run", "--rm", "probe:latest", "hello"), check=True,
                   capture_output=True)  # fmt: skip
    _assert_reaped(root, ids)


def test_a_run_without_rm_keeps_its_state_from_the_reaper(root: Path) -> None:
    subprocess.run(command(root, "run", "--name", "kept", "probe:latest", "hello"), check=True,
                   capture_output=True)  # fmt: skip
    # the next command reaps killed owners' states, not a state kept on purpose
    subprocess.run(command(root, "run", "--rm", "probe:latest", "hello"), check=True,
                   capture_output=True)  # fmt: skip
    assert _states(root) == ["kept"]
    subprocess.run(command(root, "rm", "kept"), check=True, capture_output=True)


def _file_holding(directory: Path, needle: bytes) -> list[str]:
    """Files under ``directory`` holding ``needle``, not descending into other mounts."""
    if not directory.is_dir():
        return []
    found = []
    top = directory.stat().st_dev
    for base, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(base, d)).st_dev == top]
        for name in files:
            path = os.path.join(base, name)
            try:
                with open(path, "rb") as fh:
                    if needle in fh.read():
                        found.append(path)
            except OSError:
                continue
    return found


def test_killed_build_leaves_no_secret_and_the_next_command_reaps_it(
    root: Path, tmp_path: Path, killed: list[subprocess.Popen[bytes]]
) -> None:
    value = ("secret-" + secrets.token_hex(16)).encode()
    (tmp_path / "token").write_bytes(value)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM probe:latest\n"
        "RUN --mount=type=secret,id=tok --mount=type=secret,id=tok,env=TOK "
        '--mount=type=cache,id=hold,target=/c ["/probe", "hold", "/c/ready"]\n'
    )
    cache = root / "state" / "build-mounts" / "cache"
    argv = command(root, "build", "--no-sbom", "--secret", f"id=tok,src={tmp_path / 'token'}", ctx)

    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    killed.append(proc)

    def exited() -> str | None:
        return None if proc.poll() is None else f"the build exited {proc.returncode}"

    wait_until(lambda: any(cache.glob("*/ready")), timeout=120, what="the step", abort=exited)
    ids = _states(root)
    assert len(ids) == 1
    # while the step runs: the value is in no file the host can see
    assert _file_holding(root, value) == []
    assert _file_holding(Path("/dev/shm"), value) == []
    assert not any("tmpfs" in line and str(root) in line
                   for line in Path("/proc/self/mountinfo").read_text().splitlines())  # fmt: skip
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _runtime_ids().get(ids[0]) == "running"
    assert _file_holding(root, value) == []
    assert _file_holding(Path("/dev/shm"), value) == []

    subprocess.run(command(root, "prune"), check=True, capture_output=True)
    _assert_reaped(root, ids)
    subprocess.run(command(root, "fsck"), check=True, capture_output=True)
