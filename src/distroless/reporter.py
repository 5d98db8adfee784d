"""Progress reporting without printing.

The core never writes to the terminal.  Long operations take a :class:`Reporter` and
describe what they do through it; the CLI supplies one that draws progress bars on a
terminal and stays silent in pipes, tests supply one that records events so that they
can assert on what happened (for instance that a cached build ran no ``RUN``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class Task(Protocol):
    """One unit of long work whose progress can be advanced."""

    def advance(self, amount: int) -> None: ...

    def done(self) -> None: ...


class Reporter(Protocol):
    """Sink for progress and events emitted by the core."""

    def task(self, description: str, total: int | None = None) -> Task: ...

    def event(self, kind: str, **data: Any) -> None: ...


class _NullTask:
    def advance(self, amount: int) -> None:
        pass

    def done(self) -> None:
        pass


class NullReporter:
    """Reporter that discards everything; the default for library callers."""

    def task(self, description: str, total: int | None = None) -> Task:
        return _NullTask()

    def event(self, kind: str, **data: Any) -> None:
        pass


@dataclass
class RecordingReporter:
    """Reporter that keeps events in memory so tests can inspect what the core did."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def task(self, description: str, total: int | None = None) -> Task:
        return _NullTask()

    def event(self, kind: str, **data: Any) -> None:
        self.events.append((kind, data))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]
