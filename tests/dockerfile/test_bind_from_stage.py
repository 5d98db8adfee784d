"""``RUN --mount=type=bind,from=STAGE``: the stage's files, resolved inside the stage, and
the stage's result part of the step's cache key (the differential cases compare the rest
with docker: run_mount_bind_from_stage, run_mount_bind_from_image)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.errors import BuildError
from distroless.store import Store
from tests.dockerfile.executor_helpers import build, shell_store

pytestmark = [pytest.mark.integration, pytest.mark.unsafe_images]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return shell_store(tmp_path / "store")


def _ctx(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def test_a_link_to_a_host_path_names_the_stages_file(store: Store, tmp_path: Path) -> None:
    """A stage's link to a host directory holding a decoy: the mount shows the stage's
    own (missing) path, never the decoy."""
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "secret.txt").write_text("host secret\n")
    ctx = _ctx(
        tmp_path,
        f"FROM shell AS evil\nRUN ln -s {decoy} /evil\n"
        "FROM shell\nRUN --mount=type=bind,from=evil,source=/evil/secret.txt,target=/mnt/s "
        "cat /mnt/s > /got.txt\n",
    )
    with pytest.raises(BuildError, match=r"Dockerfile:4: the mount source '/evil/secret.txt'"):
        build(store, ctx)


def test_the_stages_result_is_part_of_the_cache_key(store: Store, tmp_path: Path) -> None:
    dockerfile = (
        "FROM shell AS data\nCOPY v.txt /v.txt\n"
        "FROM shell\nRUN --mount=type=bind,from=data,source=/v.txt,target=/mnt/v "
        "cat /mnt/v > /got.txt\n"
    )
    ctx = _ctx(tmp_path, dockerfile)
    (ctx / "v.txt").write_text("one\n")
    first = build(store, ctx)
    assert first.files()["got.txt"][1] == b"one\n"
    (ctx / "v.txt").write_text("two\n")
    second = build(store, ctx)
    assert second.files()["got.txt"][1] == b"two\n"
    again = build(store, ctx)
    assert again.result.descriptor == second.result.descriptor
    assert not [s for s in again.result.executed if s.endswith(":4")]
