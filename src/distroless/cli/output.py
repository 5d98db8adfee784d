"""Terminal output: tables, JSON, sizes, and a progress reporter that hides itself in pipes."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

# rich is imported only when bars are drawn: in pipes and CI it is never needed, and its
# import is a noticeable part of a short command's start-up.


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned table like ``docker images`` prints (no box drawing, pipe friendly)."""
    cells = [list(headers), *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1000
    return f"{value:.1f}GB"


class _BarTask:
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def advance(self, amount: int) -> None:
        self._progress.advance(self._task, amount)

    def done(self) -> None:
        self._progress.remove_task(self._task)


class _QuietTask:
    def advance(self, amount: int) -> None:
        pass

    def done(self) -> None:
        pass


class TerminalReporter:
    """Progress bars on a terminal; silence in pipes and CI; ``step`` events as log lines."""

    def __init__(self, verbose: bool = False) -> None:
        self.interactive = sys.stderr.isatty()
        self.verbose = verbose
        self._progress: Progress | None = None

    def _bars(self) -> Progress:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
        return self._progress

    def task(self, description: str, total: int | None = None) -> _BarTask | _QuietTask:
        if not self.interactive:
            return _QuietTask()
        bars = self._bars()
        return _BarTask(bars, bars.add_task(description, total=total))

    def event(self, kind: str, **data: Any) -> None:
        if kind == "step":
            message = str(data.get("message", ""))
            if self._progress is not None:
                self._progress.console.print(message, highlight=False)
            else:
                click.echo(message, err=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
