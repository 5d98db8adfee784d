"""``--cache-to``/``--cache-from``: BuildKit's syntax, and one-line usage errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.dockerfile.cache_flags import CacheLocation, parse_cache_from, parse_cache_to
from distroless.errors import UsageError
from tests.helpers.cli import run_cli


def test_registry_and_local_forms() -> None:
    assert parse_cache_to("type=registry,ref=127.0.0.1:5000/app/cache:main,mode=max") == (
        CacheLocation("registry", ref="127.0.0.1:5000/app/cache:main", mode="max")
    )
    assert parse_cache_from("type=registry,ref=127.0.0.1:5000/app/cache") == (
        CacheLocation("registry", ref="127.0.0.1:5000/app/cache:latest")
    )
    assert parse_cache_to("type=local,dest=/tmp/c") == CacheLocation("local", path=Path("/tmp/c"))
    assert parse_cache_from("type=local,src=/tmp/c") == CacheLocation("local", path=Path("/tmp/c"))
    # BuildKit's short form: a bare reference is a registry cache
    assert parse_cache_from("127.0.0.1:5000/c:t").ref == "127.0.0.1:5000/c:t"
    assert parse_cache_to("TYPE=registry,REF=127.0.0.1:5000/c:t").type == "registry"


@pytest.mark.parametrize(
    ("flag", "text", "says"),
    [
        ("to", "type=s3,bucket=x", "type 's3' is not supported"),
        ("to", "type=registry", "needs ref="),
        ("to", "type=registry,ref=127.0.0.1:5000/c,mode=all", "mode is min or max"),
        ("to", "type=registry,ref=UPPER/Case:t", "invalid --cache-to"),
        ("to", "type=local,src=/tmp/c", "unknown key 'src'"),
        ("to", "type=local", "needs dest="),
        ("from", "type=local,dest=/tmp/c", "unknown key 'dest'"),
        ("from", "type=registry,ref=127.0.0.1:5000/c,mode=max", "unknown key 'mode'"),
        ("from", "type=registry,ref=a/b,ref=c/d", "given twice"),
        ("from", "type=registry,novalue", "is not key=value"),
        ("from", 'type=registry,ref="a', "invalid reference"),
        ("to", "type=registry,ref=127.0.0.1:5000/c,compression=zstd", "unknown key"),
    ],
)
def test_bad_flags_are_usage_errors(flag: str, text: str, says: str) -> None:
    parse = parse_cache_to if flag == "to" else parse_cache_from
    with pytest.raises(UsageError, match=None) as caught:
        parse(text)
    assert says in caught.value.message
    assert "\n" not in caught.value.message


def test_cli_refuses_a_bad_flag_in_one_line_with_exit_2_and_leaves_no_store(
    tmp_path: Path,
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\n")
    root = tmp_path / "store"
    result = run_cli("build", "--cache-to", "type=registry,mode=max", context, root=root)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--cache-to" in lines[0] and "Traceback" not in result.stderr
    assert not root.exists()
    result = run_cli("build", "--cache-from", "type=ftp,src=x", context, root=root)
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert not root.exists()


def test_cache_flags_belong_to_dockerfile_builds(tmp_path: Path) -> None:
    spec = tmp_path / "image.yaml"
    spec.write_text("base: scratch\n")
    result = run_cli(
        "build", "--spec", spec, "--cache-from", "type=local,src=x", root=tmp_path / "s"
    )
    assert result.exit_code == 2
    assert "--cache-from applies to Dockerfile builds" in result.stderr
