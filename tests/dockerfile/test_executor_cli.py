"""``distroless build CONTEXT`` on scratch-based Dockerfiles (no sandbox needed)."""

from __future__ import annotations

from pathlib import Path

from tests.dockerfile.executor_helpers import write_context
from tests.helpers import Cli


def test_build_tags_uses_build_args_target_and_file(cli: Cli, tmp_path: Path) -> None:
    ctx = write_context(
        tmp_path / "ctx",
        {
            "a.txt": "a\n",
            "other.Dockerfile": "FROM scratch AS first\nARG WHO\nLABEL who=$WHO\n"
            "COPY a.txt /a\nFROM scratch\nCOPY a.txt /b\n",
        },
    )
    built = cli(
        "build", "-q", "-t", "app:1", "-t", "app:2", "-f", ctx / "other.Dockerfile",
        "--build-arg", "WHO=me", "--target", "first", ctx,
    ).check()  # fmt: skip
    digest = built.stdout.strip()
    assert "COPY" not in built.stderr  # --quiet: the digest only, no step log
    assert digest.startswith("sha256:")
    inspected = cli("inspect", "app:2").check().json()
    assert isinstance(inspected, dict)
    assert inspected["config"]["config"]["Labels"] == {"who": "me"}
    first = cli("inspect", "app:1").check().json()
    assert isinstance(first, dict)
    assert first["digest"] == inspected["digest"] == digest
    again = cli("build", "-t", "app:3", "-f", ctx / "other.Dockerfile", "--target", "first",
                "--build-arg", "WHO=me", ctx).check()  # fmt: skip
    assert "CACHED COPY a.txt /a" in again.stderr
    assert digest in again.stdout


def test_build_errors_are_one_line_with_exit_codes(cli: Cli, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM scratch\nCOPY missing /m\n"})
    failed = cli("build", "-t", "x", ctx)
    assert failed.exit_code == 9
    assert "Dockerfile:2" in failed.stderr and "missing" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert cli("images", "--json").check().json() == []

    assert cli("build").exit_code == 2
    assert cli("build", "--spec", "x.yaml", ctx).exit_code == 2
    assert cli("build", "-t", "Bad Name", ctx).exit_code != 0
    bad = write_context(tmp_path / "bad", {"Dockerfile": "FROM scratch\nFROBNICATE x\n"})
    assert cli("build", bad).exit_code == 3
    missing_base = write_context(tmp_path / "mb", {"Dockerfile": "FROM golang:1.17 AS b\n"})
    result = cli("build", missing_base)
    assert result.exit_code == 4
    assert "golang:1.17" in result.stderr and "distroless load" in result.stderr
