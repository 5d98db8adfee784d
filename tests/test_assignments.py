"""One reading of ``KEY=VALUE`` for ``--build-arg``, ``-e`` and the warm path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from distroless.assignments import parse_assignments
from distroless.cli import fastpath
from distroless.errors import UsageError
from distroless.runtime.options import parse_env
from tests.helpers import Cli


def test_a_bare_key_takes_the_hosts_value_or_is_dropped() -> None:
    host = {"FROM_HOST": "h"}
    items = ["A=1", "B=", "C=x=y", "FROM_HOST", "MISSING", "A=2"]
    expected = {"A": "2", "B": "", "C": "x=y", "FROM_HOST": "h"}
    assert parse_assignments(items, what="x", host_env=host) == expected
    assert parse_env(items, host) == expected


def test_the_error_names_the_flag() -> None:
    with pytest.raises(UsageError, match=r"^invalid --build-arg '=v': expected KEY=VALUE$"):
        parse_assignments(["A=1", "=v"], what="--build-arg")
    with pytest.raises(UsageError, match=r"^invalid environment variable '=': expected"):
        parse_env(["="], {})


def test_the_warm_path_reads_build_args_as_the_full_path_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FROM_HOST", "h")
    monkeypatch.delenv("MISSING", raising=False)
    items = ["A=1", "FROM_HOST", "MISSING"]
    assert fastpath._build_args(items) == parse_assignments(items, what="--build-arg")
    assert fastpath._build_args(["=v"]) is None  # the full path words the error


def test_a_bad_build_arg_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    out = cli.subprocess("build", "--build-arg", "=v", tmp_path)
    assert out.exit_code == 2
    assert out.stderr.strip() == "error: invalid --build-arg '=v': expected KEY=VALUE"


def test_the_warm_path_loads_neither_click_nor_pydantic() -> None:
    code = (
        "import sys, distroless.cli.fastpath\n"
        "print(sorted(m for m in ('click', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
