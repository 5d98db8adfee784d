"""``distroless build CONTEXT`` on scratch-based Dockerfiles (no sandbox needed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from distroless.store import Store
from distroless.verify.attach import attached_sbom
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


def test_dockerfile_builds_attach_an_sbom_listing_the_copied_files(
    cli: Cli, tmp_path: Path
) -> None:
    ctx = write_context(
        tmp_path / "ctx",
        {"a.txt": "hello\n", "Dockerfile": "FROM scratch\nCOPY a.txt /app/a.txt\n"},
    )
    digest = cli("build", "-q", "-t", "app:1", ctx).check().stdout.strip()
    store = Store(cli.root)
    attached = attached_sbom(store, digest)
    assert attached is not None
    doc = json.loads(attached)
    files = {f["fileName"]: f["checksums"] for f in doc["files"]}
    sha = hashlib.sha256(b"hello\n").hexdigest()
    assert {"algorithm": "SHA256", "checksumValue": sha} in files["./app/a.txt"]
    assert cli("sbom", "app:1").check().stdout.encode().strip() == attached.strip()

    other = write_context(
        tmp_path / "other", {"b.txt": "b\n", "Dockerfile": "FROM scratch\nCOPY b.txt /b\n"}
    )
    plain = cli("build", "-q", "--no-sbom", other).check().stdout.strip()
    assert attached_sbom(store, plain) is None


def test_secret_flags_are_checked_before_the_build(cli: Cli, tmp_path: Path) -> None:
    ctx = write_context(
        tmp_path / "ctx",
        {"Dockerfile": "FROM scratch\nRUN --mount=type=secret,id=npm,required=true true\n"},
    )
    missing = cli("build", ctx)
    assert missing.exit_code == 9
    assert "Dockerfile:2" in missing.stderr and "'npm' is required" in missing.stderr
    bad = cli("build", "--secret", "src=/x", ctx)
    assert bad.exit_code == 2 and "id=NAME is required" in bad.stderr
    unset = cli("build", "--secret", "id=npm,env=NO_SUCH_VARIABLE_HERE", ctx)
    assert unset.exit_code == 2 and "NO_SUCH_VARIABLE_HERE is not set" in unset.stderr
    spec = cli("build", "--spec", "image.yaml", "--secret", "id=a,env=HOME")
    assert spec.exit_code == 2 and "--secret applies to Dockerfile builds" in spec.stderr


def test_platform_takes_a_comma_list_and_repeats_and_gives_one_index(
    cli: Cli, tmp_path: Path
) -> None:
    ctx = write_context(
        tmp_path / "ctx",
        {"Dockerfile": "FROM scratch\nARG TARGETARCH\nLABEL arch=$TARGETARCH\n", "a": "a"},
    )
    one = cli(
        "build", "-q", "--platform", "linux/arm64,linux/amd64", "--platform", "linux/arm64",
        "-t", "multi:1", ctx,
    ).check()  # fmt: skip
    other = cli(
        "build", "-q", "--platform", "linux/amd64", "--platform", "arm64", "-t", "multi:2", ctx
    ).check()
    assert one.stdout == other.stdout  # the same platforms, the same index
    inspected = cli("inspect", "multi:1").check().json()
    assert isinstance(inspected, dict)
    assert inspected["platforms"] == ["linux/amd64", "linux/arm64"]
    arm = cli("inspect", "--platform", "linux/arm64", "multi:1").check().json()
    assert isinstance(arm, dict)
    assert arm["config"]["config"]["Labels"] == {"arch": "arm64"}
    bad = cli("build", "-q", "--platform", "linux/amd64,", ctx)
    assert bad.exit_code == 2
    assert bad.stderr.strip() == (
        "error: invalid --platform 'linux/amd64,': an empty entry in the list"
    )
