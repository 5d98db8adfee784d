"""SIGKILL at random points of ``build --spec``, ``pull`` and ``push`` (20 trials each).

After every kill the store passes ``distroless fsck``, what was there before is untouched,
and running the same command again succeeds with the digest of an uninterrupted run.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.support import (
    MIB,
    SEED,
    Kill,
    assert_consistent,
    command,
    image_names,
    kill_after,
    kill_delays,
    leftovers,
    timed_run,
    write_spec,
)
from tests.helpers import Cli, Registry

pytestmark = pytest.mark.integration

TRIALS = 20
MEASURE_RUNS = 2  # the faster of two uninterrupted runs: the first may pay for a cold cache
BIG_FILES = {"big.bin": 20 * MIB, "mid.bin": 2 * MIB, "a.txt": 300, "b.txt": 5000}


@dataclass(frozen=True)
class BigImage:
    """The ~22 MB image the trials move around, in a store of its own."""

    cli: Cli
    spec: Path
    name: str
    digest: str


@pytest.fixture(scope="module")
def big_image(tmp_path_factory: pytest.TempPathFactory) -> BigImage:
    base = tmp_path_factory.mktemp("big")
    spec = write_spec(base / "ctx", BIG_FILES, seed=SEED)
    cli = Cli(base / "store")
    digest = cli("build", "-q", "--spec", spec, "-t", "faults/big:v1").check().stdout.strip()
    return BigImage(cli, spec, "faults/big:v1", digest)


def _startup(root: Path) -> float:
    """How long the command takes to start doing anything (a read-only command's run time)."""
    return min(timed_run(command(root, "images"))[0] for _ in range(MEASURE_RUNS))


def _summary(kills: list[Kill]) -> str:
    landed = sum(k.landed for k in kills)
    return f"{landed} of {len(kills)} kills landed mid-run"


def test_killed_builds_leave_a_consistent_store(tmp_path: Path, big_image: BigImage) -> None:
    cli = Cli(tmp_path / "store")
    small = write_spec(tmp_path / "small", {"s.txt": 1000}, seed=SEED + 1)
    before = cli("build", "-q", "--spec", small, "-t", "before:v1").check().stdout.strip()
    startup = _startup(cli.root)
    runs: list[float] = []
    for _ in range(MEASURE_RUNS):
        elapsed, done = timed_run(command(cli.root, "build", "-q", "--spec", big_image.spec))
        assert done.stdout.strip() == big_image.digest  # same spec, same digest in any store
        runs.append(elapsed)
        cli("prune").check()
    total = min(runs)

    rng = random.Random(SEED)
    kills: list[Kill] = []
    for trial, delay in enumerate(kill_delays(rng, TRIALS, startup, total)):
        argv = command(cli.root, "build", "--spec", big_image.spec, "-t", "big:v1")
        kill = kill_after(argv, delay, trial)
        kills.append(kill)
        assert_consistent(cli, kill)
        images = image_names(cli)
        assert images.get("before:v1") == before, f"{kill}: {images}"
        assert images.get("big:v1", big_image.digest) == big_image.digest, f"{kill}: {images}"

        rerun = cli("build", "-q", "--spec", big_image.spec, "-t", "big:v1")
        assert rerun.exit_code == 0, f"rerun after {kill}: {rerun.stderr}"
        assert rerun.stdout.strip() == big_image.digest, f"rerun after {kill}"
        assert_consistent(cli, f"the rerun after {kill}")

        # Back to the starting point, so every trial writes the big layer again.
        cli("rmi", "big:v1").check()
        cli("prune").check()
        assert leftovers(cli.root) == [], f"prune after {kill} left temp files"
    print(_summary(kills))


def test_killed_pulls_leave_a_consistent_store(
    tmp_path: Path, big_image: BigImage, registry: Registry
) -> None:
    ref = registry.ref("faults/pull", "v1")
    big_image.cli("push", big_image.name, ref).check()
    startup = _startup(tmp_path / "startup")
    total = min(
        timed_run(command(tmp_path / f"measure-{i}", "pull", ref))[0] for i in range(MEASURE_RUNS)
    )

    rng = random.Random(SEED + 2)
    kills: list[Kill] = []
    for trial, delay in enumerate(kill_delays(rng, TRIALS, startup, total)):
        # A fresh store each time: a store that already has the blobs would make pull a no-op.
        cli = Cli(tmp_path / f"trial-{trial}")
        kill = kill_after(command(cli.root, "pull", ref), delay, trial)
        kills.append(kill)
        assert_consistent(cli, kill)
        images = image_names(cli)
        assert all(d == big_image.digest for d in images.values()), f"{kill}: {images}"

        rerun = cli("pull", "--json", ref)
        assert rerun.exit_code == 0, f"rerun after {kill}: {rerun.stderr}"
        assert rerun.json()["digest"] == big_image.digest, f"rerun after {kill}"  # type: ignore[index]
        assert_consistent(cli, f"the rerun after {kill}")
        assert list(image_names(cli).values()) == [big_image.digest]
        cli("prune").check()
        assert leftovers(cli.root) == [], f"prune after {kill} left temp files"
        shutil.rmtree(cli.root)  # 20 copies of the image would fill /tmp run after run
    print(_summary(kills))


def test_killed_pushes_leave_store_and_registry_usable(
    tmp_path: Path, big_image: BigImage, registry: Registry
) -> None:
    src = big_image.cli
    hints = src.root / "state" / "registry" / "sources.json"
    startup = _startup(tmp_path / "startup")
    runs: list[float] = []
    for i in range(MEASURE_RUNS):
        hints.unlink(missing_ok=True)
        argv = command(src.root, "push", big_image.name, registry.ref(f"faults/measure-{i}"))
        runs.append(timed_run(argv)[0])
    total = min(runs)

    rng = random.Random(SEED + 3)
    kills: list[Kill] = []
    for trial, delay in enumerate(kill_delays(rng, TRIALS, startup, total)):
        ref = registry.ref(f"faults/push-{trial}", "v1")
        # Mount hints would turn the upload into a cheap cross-repository mount; the trials
        # are about uploads being cut off, so each starts without them.
        hints.unlink(missing_ok=True)
        kill = kill_after(command(src.root, "push", big_image.name, ref), delay, trial)
        kills.append(kill)
        assert_consistent(src, kill)
        assert image_names(src)[big_image.name] == big_image.digest

        rerun = src("push", "--json", big_image.name, ref)
        assert rerun.exit_code == 0, f"rerun after {kill}: {rerun.stderr}"
        assert rerun.json()["digest"] == big_image.digest, f"rerun after {kill}"  # type: ignore[index]
        assert leftovers(src.root) == [], f"the rerun after {kill} left temp files"
        # What the registry now serves is complete: a pull verifies every digest.
        check = Cli(tmp_path / f"check-{trial}")
        pulled = check("pull", "--json", ref)
        assert pulled.exit_code == 0, f"pull after {kill}: {pulled.stderr}"
        assert pulled.json()["digest"] == big_image.digest  # type: ignore[index]
        assert_consistent(check, f"the pull after {kill}")
        shutil.rmtree(check.root)
    assert_consistent(src, "all push trials")
    print(_summary(kills))
