"""The warm path of ``distroless build``: exactly as correct as the full path, and quiet
about it (it prints what the full path prints).

Context files are made by the test moments before the build, so the 2-second racy window
(:data:`distroless.warm.RACY_NS`) is closed for these tests, for the warm records and for
the full path's content-hash records alike: what they check is that a change made *after*
a record is seen, which the window does not affect.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from distroless import warm_record
from distroless.cli import fastpath
from distroless.dockerfile import content_hashes
from tests.dockerfile.executor_helpers import write_context
from tests.helpers import Cli
from tests.helpers.cli import Result

DOCKERFILE = "FROM scratch\nARG WHO=nobody\nLABEL who=$WHO\nCOPY a.txt /a.txt\nCOPY dir/ /dir/\n"


@pytest.fixture(autouse=True)
def _no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm_record, "RACY_NS", 0)
    monkeypatch.setattr(content_hashes, "RACY_NS", 0)


class Paths:
    """Which path each build took."""

    def __init__(self) -> None:
        self.taken: list[str] = []


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[Paths]:
    seen = Paths()
    original = fastpath.try_warm_build

    def spy(argv: list[str]) -> int | None:
        code = original(argv)
        seen.taken.append("full" if code is None else "warm")
        return code

    monkeypatch.setattr(fastpath, "try_warm_build", spy)
    yield seen


def _context(tmp_path: Path) -> Path:
    return write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": DOCKERFILE,
            "a.txt": "hello warm path\n",
            "dir/one.txt": "1\n",
            "dir/two.txt": "2\n",
            "notes/skip.txt": "not copied\n",
            ".dockerignore": "notes\n",
        },
    )


def _build(cli: Cli, ctx: Path, *args: str | Path) -> Result:
    return cli("build", "-t", "app:1", *args, ctx).check()


def _warm(cli: Cli, ctx: Path, paths: Paths, *args: str | Path) -> Result:
    """Build until a record exists (the first build executes, the second records)."""
    _build(cli, ctx, *args)
    _build(cli, ctx, *args)
    result = _build(cli, ctx, *args)
    assert paths.taken[-1] == "warm"
    return result


def _digest(result: Result) -> str:
    return result.stdout.strip().removeprefix("Built ")


def test_a_repeat_is_warm_and_prints_what_the_full_path_prints(
    cli: Cli, tmp_path: Path, paths: Paths
) -> None:
    ctx = _context(tmp_path)
    first = _build(cli, ctx)
    assert paths.taken == ["full"]
    second = _build(cli, ctx)  # all from the cache: this one writes the record
    assert paths.taken == ["full", "full"]
    third = _build(cli, ctx)
    assert paths.taken[-1] == "warm"
    assert (third.stdout, third.stderr) == (second.stdout, second.stderr)
    assert "CACHED COPY a.txt /a.txt" in third.stderr
    assert _digest(third) == _digest(first)
    quiet = cli("build", "-q", "-t", "app:1", ctx).check()
    assert paths.taken[-1] == "warm"
    assert quiet.stdout == _digest(first) + "\n" and quiet.stderr == ""
    full = cli("build", "-q", "-t", "app:1", ctx, env={"DISTROLESS_NO_WARM": "1"}).check()
    assert paths.taken[-1] == "full"
    assert (full.stdout, full.stderr) == (quiet.stdout, quiet.stderr)


def test_a_byte_flipped_with_size_and_mtime_kept_is_noticed(
    cli: Cli, tmp_path: Path, paths: Paths
) -> None:
    ctx = _context(tmp_path)
    before = _digest(_warm(cli, ctx, paths))
    target = ctx / "dir" / "one.txt"
    st = os.stat(target)
    target.write_bytes(b"9\n")  # same size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime: only ctime moved
    assert os.stat(target).st_mtime_ns == st.st_mtime_ns
    after = _build(cli, ctx)
    assert paths.taken[-1] == "full"
    assert "] COPY dir/ /dir/" in after.stderr  # executed, not CACHED
    assert _digest(after) != before
    fresh = cli("build", "-q", "--no-cache", ctx).check().stdout.strip()
    assert _digest(after) == fresh


def test_the_full_path_reads_again_only_files_whose_stat_changed(
    cli: Cli, tmp_path: Path, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new tag misses the warm record; the full path's COPY keys then come from the
    content-hash records for every file but the one flipped with size and mtime kept."""
    ctx = _context(tmp_path)
    before = _digest(_build(cli, ctx))
    assert list((cli.root / "state" / "contenthash").glob("*.json"))
    target = ctx / "dir" / "one.txt"
    st = os.stat(target)
    target.write_bytes(b"9\n")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    read: list[str] = []
    real = content_hashes._hash_file

    def spy(path: Path) -> str:
        read.append(path.relative_to(ctx).as_posix())
        return real(path)

    monkeypatch.setattr(content_hashes, "_hash_file", spy)
    after = cli("build", "-t", "other:1", ctx).check()
    assert paths.taken[-1] == "full"
    assert read == ["dir/one.txt"]
    assert "CACHED COPY a.txt /a.txt" in after.stderr
    assert "] COPY dir/ /dir/" in after.stderr  # executed: the flip was seen
    assert _digest(after) != before


@pytest.mark.parametrize("change", ["new file", "removed file", "dockerignore", "dockerfile"])
def test_a_changed_context_or_dockerfile_takes_the_full_path(
    cli: Cli, tmp_path: Path, paths: Paths, change: str
) -> None:
    ctx = _context(tmp_path)
    before = _digest(_warm(cli, ctx, paths))
    if change == "new file":
        (ctx / "dir" / "three.txt").write_text("3\n")
    elif change == "removed file":
        (ctx / "dir" / "two.txt").unlink()
    elif change == "dockerignore":
        (ctx / ".dockerignore").write_text("notes\ndir/two.txt\n")
    else:
        (ctx / "Dockerfile").write_text(DOCKERFILE + "ENV X=1\n")
    after = _build(cli, ctx)
    assert paths.taken[-1] == "full"
    assert _digest(after) != before
    assert _digest(after) == cli("build", "-q", "--no-cache", ctx).check().stdout.strip()
    again = _build(cli, ctx)  # everything cached again: the record is written anew
    assert _build(cli, ctx).stdout == again.stdout == after.stdout
    assert paths.taken[-1] == "warm"


def test_a_change_to_what_is_ignored_keeps_the_warm_path(
    cli: Cli, tmp_path: Path, paths: Paths
) -> None:
    ctx = _context(tmp_path)
    before = _digest(_warm(cli, ctx, paths))
    (ctx / "notes" / "skip.txt").write_text("edited, still ignored\n")
    (ctx / "notes" / "new.txt").write_text("new, ignored too\n")
    assert _digest(_build(cli, ctx)) == before
    assert paths.taken[-1] == "warm"


def test_a_changed_build_arg_takes_the_full_path(cli: Cli, tmp_path: Path, paths: Paths) -> None:
    ctx = _context(tmp_path)
    before = _digest(_warm(cli, ctx, paths, "--build-arg", "WHO=me"))
    other = _build(cli, ctx, "--build-arg", "WHO=you")
    assert paths.taken[-1] == "full"
    assert _digest(other) != before
    labels = cli("inspect", "app:1").check().json()
    assert isinstance(labels, dict)
    assert labels["config"]["config"]["Labels"] == {"who": "you"}
    assert _digest(_build(cli, ctx, "--build-arg", "WHO=me")) == before


def test_a_retagged_base_takes_the_full_path(cli: Cli, tmp_path: Path, paths: Paths) -> None:
    one = write_context(tmp_path / "one", {"Dockerfile": "FROM scratch\nLABEL v=1\n"})
    two = write_context(tmp_path / "two", {"Dockerfile": "FROM scratch\nLABEL v=2\n"})
    cli("build", "-q", "-t", "base:1", one).check()
    ctx = write_context(
        tmp_path / "ctx", {"Dockerfile": "FROM base:1\nCOPY a.txt /a\n", "a.txt": "a\n"}
    )
    before = _digest(_warm(cli, ctx, paths))
    cli("build", "-q", "-t", "base:1", two).check()  # base:1 now names another image
    after = _build(cli, ctx)
    assert paths.taken[-1] == "full"
    assert _digest(after) != before
    labels = cli("inspect", "app:1").check().json()
    assert isinstance(labels, dict)
    assert labels["config"]["config"]["Labels"] == {"v": "2"}


def test_a_moved_tag_is_pointed_back_by_the_warm_path(
    cli: Cli, tmp_path: Path, paths: Paths
) -> None:
    ctx = _context(tmp_path)
    other = write_context(tmp_path / "other", {"Dockerfile": "FROM scratch\nLABEL o=1\n"})
    before = _digest(_warm(cli, ctx, paths))
    cli("build", "-q", "-t", "app:1", other).check()
    assert _digest(_build(cli, ctx)) == before
    assert paths.taken[-1] == "warm"
    inspected = cli("inspect", "app:1").check().json()
    assert isinstance(inspected, dict) and inspected["digest"] == before


def test_a_symlinked_source_is_followed_inside_the_context(
    cli: Cli, tmp_path: Path, paths: Paths
) -> None:
    """``COPY link`` reads the file the link names inside the context; a change to that
    file is seen, and a decoy outside the context the link's text names plays no part."""
    decoy = tmp_path / "decoy"
    write_context(decoy, {"real.txt": "outside\n"})
    ctx = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": "FROM scratch\nCOPY link /x\n",
            f"{str(decoy).lstrip('/')}/real.txt": "inside\n",
        },
    )
    (ctx / "link").symlink_to(f"{decoy}/real.txt")  # absolute: resolved inside the context
    before = _digest(_warm(cli, ctx, paths))
    (decoy / "real.txt").write_text("outside, edited\n")
    assert _digest(_build(cli, ctx)) == before
    assert paths.taken[-1] == "warm"
    inner = ctx / str(decoy).lstrip("/") / "real.txt"
    inner.write_text("INSIDE\n")  # same size
    assert _digest(_build(cli, ctx)) != before
    assert paths.taken[-1] == "full"


def test_flags_the_warm_path_does_not_know_take_the_full_path(
    cli: Cli, tmp_path: Path, paths: Paths
) -> None:
    ctx = _context(tmp_path)
    _warm(cli, ctx, paths)
    for flags in (["--no-cache"], ["--progress", "plain"], ["--json"], ["--pull"]):
        cli("build", "-t", "app:1", *flags, ctx)
        assert paths.taken[-1] == "full", flags
    assert fastpath.parse(["build", "-tapp:1", str(ctx)]) is None
    assert fastpath.parse(["build", "--target", "a", "--target", "b", str(ctx)]) is None
    assert fastpath.parse(["build", str(ctx), str(ctx)]) is None
    assert fastpath.parse(["--root", "r", "build", "-t", "a", str(ctx)]) is not None


def test_a_damaged_record_takes_the_full_path(cli: Cli, tmp_path: Path, paths: Paths) -> None:
    ctx = _context(tmp_path)
    before = _digest(_warm(cli, ctx, paths))
    records = list((cli.root / "state" / "warm").iterdir())
    assert len(records) == 1
    doc = json.loads(records[0].read_text())
    doc["blobs"].append("sha256:" + "0" * 64)  # a blob that is not in the store
    records[0].write_text(json.dumps(doc))
    assert _digest(_build(cli, ctx)) == before
    assert paths.taken[-1] == "full"
    records[0].write_text("{not json")
    assert _digest(_build(cli, ctx)) == before
    assert paths.taken[-1] == "full"


def test_a_racy_context_writes_no_record(
    cli: Cli, tmp_path: Path, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file changed within the racy window of a build could change again unseen."""
    monkeypatch.setattr(warm_record, "RACY_NS", 3600 * 10**9)
    ctx = _context(tmp_path)
    for _ in range(3):
        _build(cli, ctx)
    assert paths.taken == ["full"] * 3
    assert not (cli.root / "state" / "warm").exists()


def test_a_store_that_cannot_take_the_record_still_builds(
    cli: Cli, tmp_path: Path, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distroless.errors import StoreError

    def refuse(path: Path, data: bytes) -> None:
        raise StoreError(f"cannot write {path}: no space left on device")

    monkeypatch.setattr(warm_record, "atomic_write_bytes", refuse)
    ctx = _context(tmp_path)
    first = _build(cli, ctx)
    assert _build(cli, ctx).stdout == _build(cli, ctx).stdout == first.stdout
    assert paths.taken == ["full"] * 3


def test_prune_all_drops_the_stat_records_and_the_next_build_is_the_same(
    cli: Cli, tmp_path: Path, paths: Paths
) -> None:
    ctx = _context(tmp_path)
    before = _digest(_warm(cli, ctx, paths))
    state = cli.root / "state"
    assert list((state / "warm").iterdir()) and list((state / "contenthash").iterdir())
    cli("prune", "--all", env={"DISTROLESS_CACHE": str(tmp_path / "package-cache")}).check()
    assert not (state / "warm").exists() and not (state / "contenthash").exists()
    again = _build(cli, ctx)
    assert paths.taken[-1] == "full"
    assert _digest(again) == before


def test_a_change_outside_what_the_dockerfile_reads_keeps_the_warm_path(
    cli: Cli, tmp_path: Path, paths: Paths
) -> None:
    """Only the paths the COPY steps name are walked (BuildKit sends only those), so an
    edit elsewhere in the context is not a reason to build; one below them still is."""
    ctx = _context(tmp_path)
    write_context(ctx, {"other/deep/file.txt": "x\n"})
    before = _digest(_warm(cli, ctx, paths))
    (ctx / "other" / "deep" / "file.txt").write_text("edited, read by no step\n")
    (ctx / "new-at-the-top.txt").write_text("new\n")
    assert _digest(_build(cli, ctx)) == before
    assert paths.taken[-1] == "warm"
    record = json.loads(next((cli.root / "state" / "warm").glob("*.json")).read_text())
    assert record["reads"] == ["a.txt", "dir"]
    target = ctx / "dir" / "one.txt"
    st = os.stat(target)
    target.write_bytes(b"9\n")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = _build(cli, ctx)
    assert paths.taken[-1] == "full"
    assert _digest(after) != before
    assert _digest(after) == cli("build", "-q", "--no-cache", ctx).check().stdout.strip()


def test_a_directory_on_the_way_swapped_for_a_link_is_noticed(
    cli: Cli, tmp_path: Path, paths: Paths
) -> None:
    """``COPY src/app/`` resolves ``src`` inside the context: once it is a link to
    another directory (same names, same sizes), the build reads that one."""
    ctx = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": "FROM scratch\nCOPY src/app/ /app/\n",
            "src/app/main.txt": "first\n",
            "elsewhere/app/main.txt": "other\n",
        },
    )
    before = _digest(_warm(cli, ctx, paths))
    (ctx / "src").rename(ctx / "moved")
    (ctx / "src").symlink_to("elsewhere")
    after = _build(cli, ctx)
    assert paths.taken[-1] == "full"
    assert _digest(after) != before
    assert _digest(after) == cli("build", "-q", "--no-cache", ctx).check().stdout.strip()
    again = _build(cli, ctx)
    (ctx / "elsewhere" / "app" / "main.txt").write_text("OTHER\n")  # behind the link
    assert _digest(_build(cli, ctx)) != _digest(again)
    assert paths.taken[-1] == "full"


def test_a_base_with_onbuild_copy_is_never_answered_from_a_partial_walk(
    cli: Cli, tmp_path: Path, paths: Paths
) -> None:
    """A base's ``ONBUILD COPY`` reads a path the Dockerfile does not show: such a build
    writes no record from the paths the Dockerfile names, so an edit there is built."""
    base = write_context(
        tmp_path / "base", {"Dockerfile": "FROM scratch\nONBUILD COPY extra.txt /extra\n"}
    )
    cli("build", "-q", "-t", "trigger:1", base).check()
    records = cli.root / "state" / "warm"
    base_records = set(records.glob("*.json"))  # the base's own build executed nothing
    ctx = write_context(
        tmp_path / "ctx",
        {"Dockerfile": "FROM trigger:1\nCOPY a.txt /a\n", "a.txt": "a\n", "extra.txt": "e1\n"},
    )
    first = _build(cli, ctx)
    assert _digest(_build(cli, ctx)) == _digest(first)  # all cached: a record could follow
    assert set(records.glob("*.json")) == base_records
    assert _digest(_build(cli, ctx)) == _digest(first)
    assert paths.taken[-1] == "full"
    target = ctx / "extra.txt"
    st = os.stat(target)
    target.write_bytes(b"e2\n")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = _build(cli, ctx)
    assert _digest(after) != _digest(first)
    assert _digest(after) == cli("build", "-q", "--no-cache", ctx).check().stdout.strip()
