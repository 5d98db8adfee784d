"""Two builds and a ``prune`` at once on one store, repeated: the store never corrupts.

Each round starts from the previous round's images untagged, so their blobs are garbage to
``prune`` and at the same time exactly the blobs the two new builds are about to reuse: the
case the ``gc.lock`` design exists for (a writer's fresh or reused blobs are never collected
while it runs). The first round also creates the store from nothing with three processes at
once.
"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest

from tests.faults.support import MIB, SEED, assert_consistent, command, image_names, write_spec
from tests.helpers import Cli

pytestmark = pytest.mark.integration

ROUNDS = 3
PRUNES = 3  # per round, started at random moments among the builds
ARCHS = ("amd64", "arm64")


def _start(argv: list[str], err: Path) -> subprocess.Popen[bytes]:
    with err.open("wb") as fh:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=fh)


def test_two_builds_and_a_prune_at_once(tmp_path: Path) -> None:
    # Two architectures: the first platform's layer sits in the store, untagged, while the
    # second one's is compressed, which gives a concurrent prune a real window to hit.
    specs = {
        "one:v1": write_spec(tmp_path / "one", {"one.bin": 6 * MIB}, SEED + 10, archs=ARCHS),
        "two:v1": write_spec(tmp_path / "two", {"two.bin": 4 * MIB}, SEED + 20, archs=ARCHS),
    }
    reference = Cli(tmp_path / "reference")
    expected = {
        name: reference("build", "-q", "--spec", spec).check().stdout.strip()
        for name, spec in specs.items()
    }
    assert len(set(expected.values())) == 2

    cli = Cli(tmp_path / "store")  # not created yet: round 0 races on creating it too
    rng = random.Random(SEED + 30)
    for round_no in range(ROUNDS):
        jobs = [
            (f"build {name}", command(cli.root, "build", "--spec", spec, "-t", name))
            for name, spec in specs.items()
        ]
        jobs += [(f"prune {i}", command(cli.root, "prune")) for i in range(PRUNES)]
        rng.shuffle(jobs)
        procs = []
        for i, (what, argv) in enumerate(jobs):
            procs.append((what, _start(argv, tmp_path / f"round{round_no}-{i}.err")))
            time.sleep(rng.uniform(0, 0.4))  # stagger the starts differently each round
        for i, (what, proc) in enumerate(procs):
            code = proc.wait(timeout=300)
            err = (tmp_path / f"round{round_no}-{i}.err").read_text()
            assert code == 0, f"round {round_no}: {what} exited {code}: {err}"

        assert_consistent(cli, f"round {round_no}")
        assert image_names(cli) == expected, f"round {round_no}"
        for name in expected:
            # Loadable: save reads the manifest, config and every layer back out of the store.
            cli("save", name, "-o", tmp_path / "out.tar").check()
        # The next round's builds make these very blobs again while prune wants them gone.
        cli("rmi", *expected).check()
    cli("prune").check()
    assert_consistent(cli, "the final prune")
    assert list((cli.root / "blobs" / "sha256").iterdir()) == []
