"""The launcher's protocol, the runtime's error log and the leases on container state.

The launcher runs for real (it is a small program); namespaces are not asked for here, so
these tests need no root except the reaper's.  The real runtime is in
tests/integration/test_run.py, tests/hostile/test_sandbox.py and tests/faults.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from distroless.errors import SandboxError
from distroless.runtime import launcher
from distroless.runtime.leases import OWNER_FILE, Lease, reap
from distroless.runtime.runc import LaunchPlan, Runtime, runtime_failure
from tests.helpers import require_root, require_tool


def _launch(tmp_path: Path, answer: bytes) -> tuple[int, bytes, bool]:
    """Run the launcher with an empty plan; returns its status, its answer, whether it ran."""
    marker = tmp_path / "ran"
    ctrl_r, ctrl_w = os.pipe()
    status_r, status_w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", launcher.__file__, str(ctrl_r), str(status_w), "--",
         "touch", str(marker)],
        pass_fds=(ctrl_r, status_w),
    )  # fmt: skip
    os.close(ctrl_r)
    os.close(status_w)
    with os.fdopen(ctrl_w, "wb") as ctrl, os.fdopen(status_r, "rb") as status:
        ctrl.write(json.dumps({"net": False, "mount": False, "files": []}).encode() + b"\n")
        ctrl.flush()
        got = status.read(1)
        ctrl.write(answer)
    return proc.wait(), got, marker.exists()


def test_launcher_starts_the_runtime_on_go(tmp_path: Path) -> None:
    assert _launch(tmp_path, b"G") == (0, b"R", True)


def test_launcher_starts_nothing_when_its_caller_goes_away(tmp_path: Path) -> None:
    assert _launch(tmp_path, b"") == (launcher.NOT_STARTED, b"R", False)


def test_runtime_log_errors_become_one_line(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    log.write_text(
        '{"level":"warning","msg":"cgroup is odd"}\nnot json\n'
        '{"level":"error","msg":"runc run failed: unable to start container process:\\n'
        'exec: bad"}\n'
    )
    assert runtime_failure(log) == "unable to start container process: exec: bad"
    log.write_text('{"level":"warning","msg":"only a warning"}\n')
    assert runtime_failure(log) is None
    assert runtime_failure(tmp_path / "missing") is None


def test_a_runtime_that_failed_is_a_sandbox_error_not_exit_1(tmp_path: Path) -> None:
    fake = tmp_path / "fake-runc"
    fake.write_text(
        "#!/bin/sh\n"
        'echo \'{"level":"error","msg":"runc run failed: no cgroup for you"}\' > "$2"\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    runtime = Runtime(fake, "runc")
    with pytest.raises(SandboxError, match="^runc could not start the container: no cgroup"):
        runtime.run(tmp_path, "c1", log=tmp_path / "log.json", stdout=subprocess.DEVNULL)
    exits = tmp_path / "exits"
    exits.write_text("#!/bin/sh\nexit 1\n")  # the container's own exit status 1
    exits.chmod(0o755)
    assert Runtime(exits, "runc").run(tmp_path, "c1", log=tmp_path / "log2.json") == 1


def test_a_launch_error_is_one_sandbox_error(tmp_path: Path) -> None:
    runtime = Runtime(Path("/nonexistent/runtime"), "runc")
    plan = LaunchPlan(private_dir=None, private_network=False)
    assert not plan.needed
    with pytest.raises(SandboxError, match="cannot start runc"):
        runtime.run(tmp_path, "c1", plan=plan)


def test_a_live_owner_keeps_its_state_and_a_dead_one_is_reaped(tmp_path: Path) -> None:
    require_root()
    require_tool("runc")
    runtime = Runtime.find()
    live = tmp_path / "live"
    live.mkdir()
    lease = Lease(live, runtime)
    assert reap([tmp_path]) == []  # locked by a live owner (this process)
    lease.release()
    assert not (live / OWNER_FILE).exists()
    assert reap([tmp_path]) == []  # no owner: a kept state (run without --rm)
    dead = tmp_path / "dead"
    (dead / "rootfs").mkdir(parents=True)
    (dead / OWNER_FILE).write_text(json.dumps({"pid": 1, "runtime": "runc"}))  # unlocked
    assert reap([tmp_path]) == ["dead"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live"]
