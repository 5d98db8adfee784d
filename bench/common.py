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
import sys
import tempfile
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


#: where measured Python children keep their bytecode between runs
PYCACHE = Path(tempfile.gettempdir()) / "distroless-bench-pycache"


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a measured command: this one, with bytecode caching on.

    An installed ``distroless`` has its modules compiled; a checkout run with
    ``PYTHONDONTWRITEBYTECODE`` set would compile every module on every run and time the
    compiler.  The cache lives outside the checkout (``PYTHONPYCACHEPREFIX``).
    """
    merged = dict(os.environ)
    merged["PYTHONDONTWRITEBYTECODE"] = ""  # empty means unset to Python
    merged.setdefault("PYTHONPYCACHEPREFIX", str(PYCACHE))
    if env:
        merged.update(env)
    return merged


# Started by the harness (a big process), a command's peak RSS would start at the harness's
# own: Linux carries the parent's high-water mark over a fork and exec.  So a command is
# started by this small launcher, which times it from spawn to exit and reports its own
# rusage; what the launcher itself weighs (a bare interpreter) is the floor left.
_LAUNCHER = """
import os, sys, time
out, argv = int(sys.argv[1]), sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
os.write(out, b"%r %d %d" % (time.perf_counter() - start, usage.ru_maxrss, status))
"""


def _run_command(
    argv: Sequence[str | os.PathLike[str]],
    env: Mapping[str, str] | None,
    cwd: Path | None,
) -> tuple[float, int]:
    """Run once; return (seconds, peak RSS KiB of the child and the children it waited for)."""
    merged = child_env(env)
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(write_end)]
            + [os.fspath(a) for a in argv],
            env=merged,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(write_end,),
        )
        os.close(write_end)
        write_end = -1
        _, stderr = proc.communicate()
        with os.fdopen(read_end, "rb") as fh:
            read_end = -1
            report = fh.read().split()
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    code = proc.returncode
    if code == 0 and len(report) == 3:
        code = os.waitstatus_to_exitcode(int(report[2]))
    if code != 0 or len(report) != 3:
        tail = stderr.decode("utf-8", "replace")[-2000:]
        raise BenchError(f"{' '.join(str(a) for a in argv)} exited {code}:\n{tail}")
    return float(report[0]), int(report[1])


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
    return _stats([once() for _ in range(repeat)])


def _stats(samples: Sequence[tuple[float, int]]) -> Stats:
    times = [s[0] for s in samples]
    rss = max(s[1] for s in samples)
    return Stats(
        runs=len(samples),
        median_s=statistics.median(times),
        min_s=min(times),
        max_s=max(times),
        peak_rss_kib=rss if rss > 0 else None,
    )


def measure_pair(
    ours: Sequence[str | os.PathLike[str]],
    peer: Sequence[str | os.PathLike[str]],
    *,
    repeat: int = 5,
    warmup: int = 1,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    setup: Callable[[], object] | None = None,
) -> tuple[Stats, Stats]:
    """Time two commands in turns (ours, peer, ours, peer, ...): the machine's load changes
    over a run, and alternating gives both the same share of it.  ``warmup`` untimed
    turns come first (they fill the bytecode cache); ``setup`` runs before every run."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    samples: tuple[list[tuple[float, int]], list[tuple[float, int]]] = ([], [])
    for turn in range(warmup + repeat):
        for argv, out in ((ours, samples[0]), (peer, samples[1])):
            if setup is not None:
                setup()
            sample = _run_command(argv, env, cwd)
            if turn >= warmup:
                out.append(sample)
    return _stats(samples[0]), _stats(samples[1])


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


@dataclass(frozen=True)
class Row:
    """One line of the results table.

    ``ours`` and ``peer`` are numbers in ``unit`` (seconds unless said otherwise; lower is
    better); ``peer`` is the same measurement for the tool we compare with (``peer_name``),
    or None when there is none. ``target`` says what we aim for, e.g. ``"ratio <= 1.0"``.
    ``ours_rss_mib`` and ``peer_rss_mib`` are the peak RSS of each side, shown after the
    name; :meth:`from_stats` fills them in from :func:`measure` results.
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
    ours_rss_mib: float | None = None
    peer_rss_mib: float | None = None

    @classmethod
    def from_stats(
        cls, benchmark: str, ours: Stats, peer: Stats | None = None, **fields: object
    ) -> Row:
        """A row of two measured medians with both peak RSS figures."""
        return cls(
            benchmark=benchmark,
            ours=ours.median_s,
            peer=None if peer is None else peer.median_s,
            ours_rss_mib=ours.peak_rss_mib,
            peer_rss_mib=None if peer is None else peer.peak_rss_mib,
            **fields,  # type: ignore[arg-type]
        )

    @property
    def rss_note(self) -> str:
        """``peak RSS 51 MiB`` (ours), ``... vs 22 MiB`` when the peer's is known too."""
        if self.ours_rss_mib is None:
            return ""
        note = f"peak RSS {self.ours_rss_mib:.0f} MiB"
        if self.peer_rss_mib is not None:
            note += f" vs {self.peer_rss_mib:.0f} MiB"
        return note

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
    notes = "; ".join(n for n in (row.notes, row.rss_note) if n)
    name = f"{row.benchmark} ({notes})" if notes else row.benchmark
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


#: the package cache the tests fill, so a bench run downloads each .deb at most once
PACKAGE_CACHE = Path(
    os.environ.get("DISTROLESS_TEST_PACKAGE_CACHE", "/var/tmp/distroless-test-cache/distroless")
)


def package_env() -> dict[str, str]:
    """This process's environment with ``DISTROLESS_CACHE`` at :data:`PACKAGE_CACHE`."""
    PACKAGE_CACHE.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "DISTROLESS_CACHE": str(PACKAGE_CACHE)}
