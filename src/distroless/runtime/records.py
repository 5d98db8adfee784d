"""What a container's state directory says about it, for ``ps``, ``logs``, ``stop``…

A container's state (``state/containers/<name>``) holds, besides its bundle and root
file system, two small JSON records: ``container.json``, written once when the state is
created (its id, image, command, how it was started), and ``exit.json``, written by its
owner when the container's process ended (the exit code, when).  Their presence, the
owner's lock (:mod:`distroless.runtime.leases`) and the runtime's own list say which of
docker's states a container is in; nothing else needs a daemon.

A container is named by its state directory (``--name`` or ``distroless-<12 hex>``) and
has a 64-hex id as docker's; commands accept either, or a unique prefix of the id.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from distroless.errors import NotFoundError, UsageError
from distroless.store.atomic import atomic_write_bytes

RECORD_FILE = "container.json"
EXIT_FILE = "exit.json"
STDOUT_LOG = "stdout.log"
STDERR_LOG = "stderr.log"


def new_id() -> str:
    return secrets.token_hex(32)


@dataclass(frozen=True)
class ContainerRecord:
    """How a container was started; never changes after its state is created."""

    id: str
    name: str
    image: str
    image_digest: str
    command: tuple[str, ...]
    created: float = field(default_factory=time.time)
    detached: bool = False
    remove: bool = False
    tty: bool = False
    init: bool = False
    network: str = "private"
    runtime: str = "runc"
    runtime_root: str | None = None
    stop_signal: str = ""
    debug_of: str | None = None

    def to_json(self) -> bytes:
        data = asdict(self)
        data["command"] = list(self.command)
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: Any, name: str) -> ContainerRecord:
        if not isinstance(data, dict):
            raise ValueError("not an object")
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["command"] = tuple(str(a) for a in values.get("command") or ())
        values["name"] = name  # the directory is the truth
        return cls(**values)


@dataclass(frozen=True)
class ExitRecord:
    """How a container's process ended; ``error`` when it never ran or was reaped."""

    code: int
    finished: float = field(default_factory=time.time)
    error: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


def write_record(state: Path, record: ContainerRecord) -> None:
    atomic_write_bytes(state / RECORD_FILE, record.to_json())


def read_record(state: Path) -> ContainerRecord | None:
    """The record of ``state``; None for a state without one (or a damaged one)."""
    try:
        return ContainerRecord.from_json(json.loads((state / RECORD_FILE).read_bytes()), state.name)
    except (OSError, ValueError, TypeError):
        return None


def write_exit(state: Path, record: ExitRecord) -> None:
    atomic_write_bytes(state / EXIT_FILE, record.to_json())


def read_exit(state: Path) -> ExitRecord | None:
    try:
        data = json.loads((state / EXIT_FILE).read_bytes())
        return ExitRecord(int(data["code"]), float(data["finished"]), data.get("error"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def states(state_root: Path) -> Iterator[Path]:
    """Every container state directory under ``state_root``, by name."""
    try:
        children = sorted(state_root.iterdir())
    except OSError:
        return
    for child in children:
        if child.is_dir() and not child.is_symlink():
            yield child


def find_state(state_root: Path, ref: str) -> Path:
    """The state of the container ``ref`` names: its name, its id or a unique id prefix."""
    if not ref or "/" in ref or ref in (".", ".."):
        raise UsageError(f"invalid container name or id {ref!r}")
    exact = state_root / ref
    if exact.is_dir() and not exact.is_symlink():
        return exact
    matches = []
    for state in states(state_root):
        record = read_record(state)
        if record is not None and record.id.startswith(ref.lower()):
            matches.append(state)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UsageError(f"{ref!r} matches {len(matches)} containers; give more of the id")
    raise NotFoundError(f"no such container: {ref}")
