"""The benchmark harness: measurement, rows, the table and module discovery."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str) -> ModuleType:
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    spec = importlib.util.spec_from_file_location(name, BENCH_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


common = _load("common")
runner = _load("run")


def test_measure_command_reports_runs_and_memory() -> None:
    stats = common.measure(["true"], repeat=3)
    assert stats.runs == 3
    assert stats.min_s <= stats.median_s <= stats.max_s
    assert stats.peak_rss_kib is not None and stats.peak_rss_kib > 0


def test_measure_failing_command_raises_with_stderr() -> None:
    with pytest.raises(common.BenchError, match="oops"):
        common.measure(["sh", "-c", "echo oops >&2; exit 3"], repeat=1)


def test_isolated_callable_reports_its_own_peak() -> None:
    stats = common.measure(lambda: bytearray(64 * 1024 * 1024), repeat=1, isolate=True)
    assert stats.peak_rss_kib is not None and stats.peak_rss_kib >= 64 * 1024


def test_row_ratio_and_coercion() -> None:
    row = common.Row.coerce({"benchmark": "b", "ours": 2.0, "peer": 4.0, "speed": "x"})
    assert row.ratio == 0.5
    assert row.notes == "speed=x"
    assert common.Row("b", ours=1.0).ratio is None
    with pytest.raises(TypeError, match="benchmark"):
        common.Row.coerce({"ours": 1.0})


def test_table_has_the_fixed_columns() -> None:
    table = common.markdown_table([common.Row("a|b", ours=1.5, peer=3.0, target="<= 1")])
    header, rule, line = table.splitlines()
    assert [c.strip() for c in header.strip("|").split("|")] == list(common.COLUMNS)
    assert set(rule) <= {"|", "-"}
    assert "a\\|b" in line and "0.50x" in line


def test_failing_module_becomes_an_error_row(tmp_path: Path) -> None:
    (tmp_path / "bench_good.py").write_text(
        "def run(ctx):\n    return [{'benchmark': 'good', 'ours': 1.0}]\n"
    )
    (tmp_path / "bench_bad.py").write_text("def run(ctx):\n    raise RuntimeError('boom')\n")
    (tmp_path / "helper.py").write_text("")
    paths = runner.discover(tmp_path)
    assert [p.stem for p in paths] == ["bench_bad", "bench_good"]
    ctx = common.Context(repeat=1, quick=True, workdir=tmp_path)
    bad_rows, bad_ok = runner.run_module(paths[0], ctx)
    good_rows, good_ok = runner.run_module(paths[1], ctx)
    assert not bad_ok and "boom" in bad_rows[0].notes
    assert good_ok and good_rows[0].ours == 1.0
