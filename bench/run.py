"""Run every ``bench/bench_*.py`` module and print one markdown table of the results.

Usage: ``python bench/run.py [-k SUBSTRING] [--repeat N] [--quick] [--json]``. A module that
raises becomes an error row and makes the exit code 1; the other modules still run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))  # lets modules write ``from common import Row``

from chart import write_chart  # noqa: E402
from common import Context, Row, markdown_table  # noqa: E402


def discover(directory: Path = BENCH_DIR, pattern: str = "") -> list[Path]:
    """The benchmark modules in ``directory`` whose name contains ``pattern``, sorted."""
    return [p for p in sorted(directory.glob("bench_*.py")) if pattern in p.stem]


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"distroless_bench.{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_module(path: Path, ctx: Context) -> tuple[list[Row], bool]:
    """Rows of one module and whether it succeeded; failures become a single error row."""
    try:
        module = load(path)
        func = getattr(module, "run", None)
        if not callable(func):
            raise TypeError(f"{path.name} has no run(ctx) function")
        result = func(ctx)
        items = [result] if isinstance(result, Row | dict) else list(result or [])
        return [Row.coerce(item) for item in items], True
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        message = f"error: {type(exc).__name__}: {exc}".splitlines()[0][:120]
        return [Row(benchmark=path.stem, ours=None, notes=message)], False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "-k", dest="pattern", default="", help="only modules whose name contains this"
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    parser.add_argument("--list", action="store_true", help="list the modules and exit")
    parser.add_argument(
        "--out", type=Path, default=None, help="also write results.md, results.json, chart.png here"
    )
    args = parser.parse_args(argv)

    paths = discover(pattern=args.pattern)
    if args.list:
        print("\n".join(p.stem for p in paths))
        return 0
    if not paths:
        print(f"no bench_*.py modules match {args.pattern!r}", file=sys.stderr)
        return 1
    rows: list[Row] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="distroless-bench-") as tmp:
        for path in paths:
            workdir = Path(tmp) / path.stem
            workdir.mkdir()
            ctx = Context(repeat=args.repeat, quick=args.quick, workdir=workdir)
            print(f"running {path.stem} ...", file=sys.stderr, flush=True)
            module_rows, module_ok = run_module(path, ctx)
            rows.extend(module_rows)
            ok = ok and module_ok
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        print(markdown_table(rows))
    if args.out is not None:
        write_results(rows, args.out)
    return 0 if ok else 1


def write_results(rows: Sequence[Row], out: Path) -> None:
    """results.md (the table with how it was made), results.json and chart.png."""
    out.mkdir(parents=True, exist_ok=True)
    header = (
        "# Benchmark results\n\n"
        "Made by `make bench` (`bench/run.py`). Ratio = ours / peer: below 1 we are faster or"
        " smaller.\n\n"
    )
    chart = out / "chart.png"
    drawn = write_chart(rows, chart)
    footer = "\n\n![ratios](chart.png)\n" if drawn else "\n"
    (out / "results.md").write_text(header + markdown_table(rows) + footer)
    (out / "results.json").write_text(json.dumps([r.as_dict() for r in rows], indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
