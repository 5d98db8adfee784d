"""Terminal output: tables, JSON, sizes, and a progress reporter that hides itself in pipes."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import click

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

# rich is imported only when bars are drawn: in pipes and CI it is never needed, and its
# import is a noticeable part of a short command's start-up.


def emit_json(data: Any, *, err: bool = False) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True), err=err)


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


#: ``--progress`` values, as docker's and buildx's (plus ``json``, which ``--json`` selects);
#: ``tty`` draws the bars even when stderr is not a terminal
PROGRESS_MODES = ("auto", "plain", "quiet", "tty")
ProgressMode = Literal["auto", "plain", "quiet", "tty", "json"]


#: work without a bar that can take long: announced on a terminal as well as in ``plain``
_SLOW_STEPS = frozenset({"python-resolve"})


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


class _LineTask:
    """``--progress plain``/``json``: no bar, one line (or event) when the work is done."""

    def __init__(self, reporter: TerminalReporter, number: int, description: str) -> None:
        self._reporter = reporter
        self._number = number
        self._description = description
        self._bytes = 0
        self._done = False

    def advance(self, amount: int) -> None:
        self._bytes += amount

    def done(self) -> None:
        if not self._done:
            self._done = True
            self._reporter.task_done(self._number, self._description, self._bytes)


def _short(digest: object) -> str:
    text = str(digest)
    return text[7:19] if text.startswith("sha256:") else text[:12]


def plain_line(kind: str, data: dict[str, Any]) -> str | None:
    """The one ``--progress plain`` line of a core event, or None for events not shown."""
    match kind:
        case "layer-cached":
            return f"CACHED {data.get('created_by') or data.get('key')}"
        case "layer-built":
            size = human_size(int(data.get("size", 0)))
            return f"layer {_short(data.get('digest'))} {size}: {data.get('created_by', '')}"
        case "deb-cached" | "wheel-cached":
            return None
        case "python-resolve":
            return f"resolving Python wheels for {data.get('target')}"
        case "base":
            return f"base {data.get('image')} from the {data.get('source')}"
        case "base-built":
            return f"built {data.get('name')}:{data.get('tag')} {_short(data.get('digest'))}"
        case "platform-built":
            return f"built {data.get('platform')} {_short(data.get('digest'))}"
        case "unsatisfied":
            return (
                f"left out {data.get('package')} -> {data.get('relation')} "
                f"({data.get('arch')}): a package-management package"
            )
        case "push.blob" | "pull.blob":
            action = "pushed" if kind.startswith("push") else "pulled"
            return f"{action} {_short(data.get('digest'))} {human_size(int(data.get('size', 0)))}"
        case "cache.import":
            return f"cache {data.get('source')}: {data.get('steps')} steps"
        case "cache.fetch":
            size = human_size(int(data.get("size", 0)))
            return f"fetched {_short(data.get('digest'))} {size} from the cache"
        case "cache.export":
            return (
                f"cache exported to {data.get('sink')}: {data.get('steps')} steps "
                f"(mode={data.get('mode')})"
            )
        case "push.done" | "pull.done":
            verb = kind.split(".", maxsplit=1)[0]
            return f"{verb} {data.get('reference')} {_short(data.get('digest'))}"
    return None


class TerminalReporter:
    """Progress for the terminal, as ``--progress`` asks.

    ``auto``: progress bars (rich) when stderr is a terminal, nothing extra in a pipe;
    ``plain``: no bars, one line per step (a download, a layer, a base), for CI logs;
    ``quiet``: only warnings; ``json``: every event as one JSON object per line on stderr.
    ``step`` events (a build's log lines) show in ``auto`` and ``plain``; ``warning``
    events in every mode.
    """

    def __init__(self, verbose: bool = False, mode: ProgressMode = "auto") -> None:
        self.mode: ProgressMode = mode
        self.interactive = mode == "tty" or (mode == "auto" and sys.stderr.isatty())
        self.verbose = verbose
        self._progress: Progress | None = None
        self._tasks = 0

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

    def _line(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, highlight=False, markup=False)
        else:
            click.echo(text, err=True)

    def _json(self, kind: str, data: dict[str, Any]) -> None:
        click.echo(json.dumps({"event": kind, **data}, sort_keys=True, default=str), err=True)

    def task(self, description: str, total: int | None = None) -> _BarTask | _QuietTask | _LineTask:
        self._tasks += 1
        if self.mode == "json":
            self._json("task-start", {"task": self._tasks, "description": description,
                                      "total": total})  # fmt: skip
            return _LineTask(self, self._tasks, description)
        if self.mode == "plain":
            return _LineTask(self, self._tasks, description)
        if not self.interactive:
            return _QuietTask()
        bars = self._bars()
        return _BarTask(bars, bars.add_task(description, total=total))

    def task_done(self, number: int, description: str, size: int) -> None:
        if self.mode == "json":
            self._json("task-done", {"task": number, "description": description, "bytes": size})
        elif self.mode == "plain" and not description.startswith("layer "):
            # a layer's own line comes with its layer-built event
            self._line(f"{description} {human_size(size)}")

    def event(self, kind: str, **data: Any) -> None:
        if self.mode == "json":
            self._json(kind, data)
            return
        if kind == "warning":
            self._line(f"warning: {data.get('message', '')}")
            return
        if self.mode == "quiet":
            return
        if kind == "step":
            self._line(str(data.get("message", "")))
        elif self.mode == "plain" or (self.interactive and kind in _SLOW_STEPS):
            line = plain_line(kind, data)
            if line is not None:
                self._line(line)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
