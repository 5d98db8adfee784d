"""The benchmark harness's shared parts: timing, peak memory, result rows and the table.

A benchmark module (``bench/bench_<topic>.py``) exposes ``run(ctx: Context) -> list[Row]``;
``bench/run.py`` discovers the modules, calls them and prints one markdown table. Rows may
also be plain mappings with the same keys as :class:`Row`, which ``Row.coerce`` accepts.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

Target = Sequence[str | os.PathLike[str]] | Callable[[], object]


@dataclass(frozen=True)
class Stats:
    """Wall times of ``runs`` repetitions and the largest peak RSS seen (KiB, None if unknown)."""

    runs: int
    median_s: float
    min_s: float
    max_s: float
    peak_rss_kib: int | None

    @property
    def peak_rss_mib(self) -> float | None:
        return None if self.peak_rss_kib is None else self.peak_rss_kib / 1024


class BenchError(RuntimeError):
    """A measured command failed; a timing of a failing command would be meaningless."""


def _run_command(
    argv: Sequence[str | os.PathLike[str]],
    env: Mapping[str, str] | None,
    cwd: Path | None,
) -> tuple[float, int]:
    """Run once; return (seconds, peak RSS KiB of the child and the children it waited for)."""
    merged = dict(os.environ)
    if env:
        merged.update(env)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [os.fspath(a) for a in argv],
        env=merged,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # wait4 gives this child's own rusage, unlike RUSAGE_CHILDREN which is a lifetime maximum.
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        tail = stderr.decode("utf-8", "replace")[-2000:]
        raise BenchError(f"{' '.join(str(a) for a in argv)} exited {proc.returncode}:\n{tail}")
    return elapsed, int(usage.ru_maxrss)


def _run_forked(func: Callable[[], object]) -> tuple[float, int]:
    """Run ``func`` in a forked child so its peak RSS is its own, not this process's."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            func()
        except BaseException:
            code = 1
        os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise BenchError(f"{getattr(func, '__name__', func)!s} failed in the forked child")
    return elapsed, int(usage.ru_maxrss)


def _run_inline(func: Callable[[], object]) -> tuple[float, int]:
    start = time.perf_counter()
    func()
    elapsed = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, int(max(own, children))


def measure(
    target: Target,
    *,
    repeat: int = 5,
    warmup: int = 0,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    isolate: bool = False,
    setup: Callable[[], object] | None = None,
) -> Stats:
    """Time ``target`` ``repeat`` times (after ``warmup`` untimed runs) and report the median.

    ``target`` is an argv (run as a child; its peak RSS is exact) or a callable. A callable
    runs in this process, where peak RSS is only the process's high-water mark so far; pass
    ``isolate=True`` to fork per run and get the call's own peak. ``setup`` runs before each
    run, untimed (e.g. to empty a cache for cold-start numbers).
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")

    def once() -> tuple[float, int]:
        if setup is not None:
            setup()
        if callable(target):
            return _run_forked(target) if isolate else _run_inline(target)
        return _run_command(target, env, cwd)

    for _ in range(warmup):
        once()
    samples = [once() for _ in range(repeat)]
    times = [s[0] for s in samples]
    rss = max(s[1] for s in samples)
    return Stats(
        runs=repeat,
        median_s=statistics.median(times),
        min_s=min(times),
        max_s=max(times),
        peak_rss_kib=rss if rss > 0 else None,
    )


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


@dataclass(frozen=True)
class Row:
    """One line of the results table.

    ``ours`` and ``peer`` are numbers in ``unit`` (seconds unless said otherwise; lower is
    better); ``peer`` is the same measurement for the tool we compare with (``peer_name``),
    or None when there is none. ``target`` says what we aim for, e.g. ``"ratio <= 1.0"``.
    """

    benchmark: str
    ours: float | None
    peer: float | None = None
    unit: str = "s"
    target: str = ""
    peer_name: str = ""
    notes: str = ""
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    date: str = field(default_factory=_today)

    @property
    def ratio(self) -> float | None:
        """ours / peer: below 1 means we are faster (or smaller)."""
        if self.ours is None or self.peer is None or self.peer == 0:
            return None
        return self.ours / self.peer

    @classmethod
    def coerce(cls, value: object) -> Row:
        """Accept a Row or a mapping with Row's field names (unknown keys go into notes)."""
        if isinstance(value, Row):
            return value
        if isinstance(value, Mapping):
            names = {f.name for f in fields(cls)}
            known = {k: v for k, v in value.items() if k in names}
            extra = {k: v for k, v in value.items() if k not in names and k != "ratio"}
            if "benchmark" not in known:
                raise TypeError(f"benchmark row without a 'benchmark' name: {dict(value)!r}")
            if extra:
                more = ", ".join(f"{k}={v}" for k, v in sorted(extra.items()))
                known["notes"] = f"{known.get('notes', '')} {more}".strip()
            return cls(**known)
        raise TypeError(f"a benchmark returned {type(value).__name__}, expected Row or a mapping")

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["ratio"] = self.ratio
        return data


@dataclass(frozen=True)
class Context:
    """What ``run(ctx)`` receives: how hard to try and where to put scratch files."""

    repeat: int
    quick: bool
    workdir: Path
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    date: str = field(default_factory=_today)


def _number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    magnitude = abs(value)
    text = f"{value:.3g}" if magnitude < 100 else f"{value:.0f}"
    return f"{text} {unit}".strip()


COLUMNS = ("benchmark", "ours", "peer", "ratio", "target", "cores", "date")


def _cells(row: Row) -> list[str]:
    peer = _number(row.peer, row.unit)
    if row.peer_name and row.peer is not None:
        peer = f"{peer} ({row.peer_name})"
    name = f"{row.benchmark} ({row.notes})" if row.notes else row.benchmark
    ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
    return [
        name,
        _number(row.ours, row.unit),
        peer,
        ratio,
        row.target or "-",
        str(row.cores),
        row.date,
    ]


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a GitHub-flavoured markdown table with the harness's fixed columns."""
    body = [_cells(r) for r in rows]
    widths = [max([len(c)] + [len(b[i]) for b in body]) for i, c in enumerate(COLUMNS)]

    def line(cells: Sequence[str]) -> str:
        escaped = [c.replace("|", "\\|") for c in cells]
        return "| " + " | ".join(c.ljust(w) for c, w in zip(escaped, widths, strict=True)) + " |"

    out = [line(COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(b) for b in body)
    return "\n".join(out)
