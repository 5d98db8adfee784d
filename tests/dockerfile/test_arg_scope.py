"""ARG and ENV of the same name: the later of the two is what the steps see (BuildKit keeps
one list of variables for them), while the image config holds ENV's value only."""

from __future__ import annotations

from pathlib import Path

from distroless.store import Store
from tests.dockerfile.executor_helpers import FakeRunner, build, write_context

DOCKERFILE = (
    "FROM scratch\n"
    "ENV X=env\n"
    "ARG X\n"  # given a value by --build-arg: over ENV for what follows
    "LABEL after-arg=$X\n"
    "RUN one\n"
    "ENV X=again\n"  # a later ENV wins again
    "LABEL after-env=$X\n"
    "RUN two\n"
    "ENV Z=env\n"
    "ARG Z\n"  # no value anywhere: ENV's stays
    "ARG D=default-$X\n"
    "ENV D=env\n"
    "ARG D=redeclared\n"  # a default counts as a value too
    "LABEL z=$Z d=$D\n"
    "RUN three\n"
)


def test_an_arg_given_a_value_after_env_wins_for_the_steps(tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {})
    runner = FakeRunner()
    built = build(
        Store(tmp_path / "store"), ctx, DOCKERFILE, build_args={"X": "cli"}, runner=runner
    )
    labels = built.config.labels
    assert labels["after-arg"] == "cli"
    assert labels["after-env"] == "again"
    assert (labels["z"], labels["d"]) == ("env", "redeclared")
    one, two, three = (dict(step.env) for step in runner.steps)
    assert one["X"] == "cli"
    assert "X" not in two  # the step gets X=again from the config's ENV
    assert three.get("Z") is None and three["D"] == "redeclared"
    env = built.config.env_map()
    assert (env["X"], env["Z"], env["D"]) == ("again", "env", "env")
