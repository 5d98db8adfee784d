"""Benchmark: a Dockerfile of many metadata lines (``ENV``), the cost of one build.

A Dockerfile is untrusted input; one with tens of thousands of ``ENV`` lines must not take
the builder minutes (it took 88 s for 20,000 lines when every line copied the whole
environment).  Measured: ``distroless build`` of ``FROM scratch`` + N ``ENV`` lines + ``CMD``,
through the CLI, for two sizes, so the table shows that ten times the lines cost about ten
times the time.  There is no peer: the test engine's BuildKit (docker 20.10) took 517 s for
2,000 such lines on the 2-core development machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from common import Context, Row, measure

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _context(root: Path, lines: int) -> Path:
    root.mkdir(parents=True)
    body = "".join(f"ENV V{i}=value-{i} W{i}=$V{i}\n" for i in range(lines))
    (root / "Dockerfile").write_text(f'FROM scratch\n{body}CMD ["/x"]\n')
    return root


def run(ctx: Context) -> list[Row]:
    from tests.helpers.cli import distroless_executable

    exe = str(distroless_executable())
    sizes = (2_000, 20_000) if not ctx.quick else (500, 5_000)
    repeat = max(1, min(ctx.repeat, 3))
    rows: list[Row] = []
    for lines in sizes:
        context = _context(ctx.workdir / f"env-{lines}", lines)
        store = ctx.workdir / f"store-{lines}"
        stats = measure(
            [exe, "--root", str(store), "build", "-q", "--no-sbom", str(context)],
            repeat=repeat,
            # every run takes the full path: a repeat would otherwise be the warm path's
            env={**os.environ, "DISTROLESS_NO_WARM": "1"},
        )
        rows.append(
            Row(
                benchmark=f"build a Dockerfile of {lines} ENV lines",
                ours=stats.median_s,
                target="linear in the lines; 20000 lines < 15 s on 2 cores",
                notes=f"peak RSS {stats.peak_rss_mib:.0f} MiB",
            )
        )
    return rows
