"""Shared pieces of the fault tests: seeded inputs, killing a real ``distroless`` process at a
chosen moment, and the checks every fault must pass (fsck clean, nothing half-written left).

Kills happen at times drawn from a seeded RNG over the measured length of an uninterrupted
run. That is fault injection, not synchronisation: whichever instant the kill lands on, the
store must come out consistent, so no test waits for a particular state before killing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import Cli, distroless_executable

SEED = 20261126
MIB = 1 << 20


def random_file(path: Path, size: int, seed: int) -> Path:
    """``size`` incompressible bytes, the same for the same seed (so digests are stable)."""
    rng = random.Random(seed)
    with path.open("wb") as fh:
        left = size
        while left:
            n = min(left, 4 * MIB)
            fh.write(rng.randbytes(n))
            left -= n
    return path


def write_spec(
    ctx: Path, files: Mapping[str, int], seed: int, *, archs: Sequence[str] = ()
) -> Path:
    """A spec copying one seeded random file per entry of ``files`` (name -> size) into /data."""
    ctx.mkdir(parents=True, exist_ok=True)
    lines = ["files:"]
    for i, (file_name, size) in enumerate(sorted(files.items())):
        random_file(ctx / file_name, size, seed * 1000 + i)
        lines.append(f"  - {{src: {file_name}, dst: /data/{file_name}}}")
    lines.append(f"labels: {{org.opencontainers.image.title: {ctx.name}}}")
    if archs:
        lines.append(f"archs: [{', '.join(archs)}]")
    spec = ctx / "image.yaml"
    spec.write_text("\n".join(lines) + "\n")
    return spec


def command(root: Path, *args: str | os.PathLike[str]) -> list[str]:
    """``distroless --root ROOT ARGS`` as an argv for the installed executable."""
    return [str(distroless_executable()), "--root", str(root), *(os.fspath(a) for a in args)]


def timed_run(argv: Sequence[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run to completion; the wall time picks the kill range of the trials that follow."""
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, f"{argv} failed:\n{proc.stderr}"
    return elapsed, proc


@dataclass(frozen=True)
class Kill:
    """One trial: when the kill was sent and whether the process was still running then."""

    trial: int
    delay: float
    landed: bool

    def __str__(self) -> str:
        state = "killed mid-run" if self.landed else "had already finished"
        return f"trial {self.trial} (SIGKILL after {self.delay:.3f}s, {state})"


def kill_after(argv: Sequence[str], delay: float, trial: int) -> Kill:
    """Start ``argv`` and SIGKILL it ``delay`` seconds later unless it is done by then."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:  # an error in the test itself: never leave the child behind
            proc.kill()
            proc.wait()
    return Kill(trial, delay, landed=proc.returncode == -signal.SIGKILL)


def kill_delays(rng: random.Random, count: int, startup: float, total: float) -> list[float]:
    """``count`` delays spread over the run: from late in start-up to just past its end."""
    low = startup * 0.7
    high = max(total * 1.05, low + 0.05)
    return [rng.uniform(low, high) for _ in range(count)]


def assert_consistent(cli: Cli, when: object) -> None:
    """``distroless fsck`` exits 0 and reports nothing; the message names the trial."""
    result = cli("fsck")
    assert result.exit_code == 0, f"fsck after {when} failed:\n{result.stdout}{result.stderr}"
    assert result.stdout.strip() == "store is consistent", f"after {when}: {result.stdout}"


def leftovers(root: Path) -> list[str]:
    """Temp files a writer left behind: in tmp/, and atomic-write temps (dot files) beside
    index.json and in state/."""
    found = [f"tmp/{p.name}" for p in (root / "tmp").iterdir()]
    found += [p.name for p in root.iterdir() if p.name.startswith(".")]
    found += [str(p.relative_to(root)) for p in (root / "state").rglob(".*")]
    return sorted(found)


def image_names(cli: Cli) -> dict[str, str]:
    """Tag -> manifest digest of every image in the store."""
    rows = cli("images", "--json").check().json()
    assert isinstance(rows, list)
    out: dict[str, str] = {}
    for row in rows:
        assert isinstance(row, dict)
        out[str(row["name"])] = str(row["digest"])
    return out
