"""Containers after ``run``: listing, signalling, stopping, waiting for and removing them.

There is no daemon: a container's state directory (:mod:`distroless.runtime.records`),
its owner's lease (:mod:`distroless.runtime.leases`) and the runtime's own list are the
whole truth, read afresh by every command.  Every entry point reaps orphans first, so a
container whose owner was killed shows as exited, never as running.

Waiting for a container's end does not poll: a pidfd of its first process becomes
readable when it exits, and the owner's lease is released once the exit is recorded.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from distroless.errors import NotFoundError, SandboxError, UsageError
from distroless.runtime.console import pidfd
from distroless.runtime.container import containers_state_root, reap_orphans
from distroless.runtime.leases import owned, wait_released
from distroless.runtime.records import (
    ContainerRecord,
    ExitRecord,
    find_state,
    read_exit,
    read_record,
    states,
)
from distroless.runtime.rootfs import is_mountpoint, unmount
from distroless.runtime.runc import Runtime, RuntimeState

Status = Literal["created", "running", "paused", "exited"]
#: docker's ``stop`` timeout
DEFAULT_STOP_TIMEOUT = 10


@dataclass(frozen=True)
class Container:
    """One container as a command sees it now."""

    state: Path
    record: ContainerRecord | None
    exit: ExitRecord | None
    status: Status
    pid: int = 0

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused")


def runtime_of(record: ContainerRecord | None) -> Runtime:
    if record is None:
        return Runtime.find()
    root = Path(record.runtime_root) if record.runtime_root else None
    return Runtime.find(record.runtime, root)


def _describe(state: Path, known: dict[str, RuntimeState]) -> Container:
    record = read_record(state)
    ended = read_exit(state)
    if ended is not None:
        return Container(state, record, ended, "exited")
    seen = known.get(state.name)
    if seen is not None and seen.status in ("running", "paused"):
        return Container(state, record, None, "running" if seen.status == "running" else "paused",
                         seen.pid)  # fmt: skip
    if owned(state):
        return Container(state, record, None, "created", seen.pid if seen else 0)
    return Container(state, record, None, "exited")


def _known(records: list[ContainerRecord | None]) -> dict[str, RuntimeState]:
    """The runtime's view, asked once per runtime that the records name."""
    seen: dict[str, RuntimeState] = {}
    asked: set[tuple[str, str | None]] = set()
    for record in records:
        key = (record.runtime, record.runtime_root) if record else ("runc", None)
        if key in asked:
            continue
        asked.add(key)
        seen.update(runtime_of(record).states())
    return seen


def list_containers(store_root: Path, *, everything: bool = False) -> list[Container]:
    """Running containers (``ps``), or every container with state (``ps -a``), oldest first."""
    reap_orphans(store_root)
    found = list(states(containers_state_root(store_root / "state")))
    known = _known([read_record(s) for s in found]) if found else {}
    out = [_describe(s, known) for s in found]
    if not everything:
        out = [c for c in out if c.status != "exited"]
    return sorted(out, key=lambda c: (c.record.created if c.record else 0.0, c.name))


def get(store_root: Path, ref: str) -> Container:
    """The container ``ref`` names (name, id or id prefix); NotFoundError if none."""
    reap_orphans(store_root)
    state = find_state(containers_state_root(store_root / "state"), ref)
    return refresh(state)


def refresh(state: Path) -> Container:
    if not state.is_dir():
        raise NotFoundError(f"no such container: {state.name}")
    record = read_record(state)
    return _describe(state, runtime_of(record).states())


def parse_signal(text: str) -> int:
    """``KILL``, ``SIGKILL``, ``9``: docker's forms of a signal."""
    name = text.strip().upper()
    if name.isdigit():
        number = int(name)
        if 0 < number < signal.NSIG:
            return number
    else:
        try:
            return int(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
        except KeyError:
            pass
    raise UsageError(f"invalid signal {text!r}: use a name such as TERM or KILL, or a number")


def require_running(container: Container, what: str) -> None:
    if not container.running:
        how = ""
        if container.exit is not None:
            how = f" (it exited with code {container.exit.code})"
        raise SandboxError(f"container {container.name} is not running{how}; cannot {what}")


def kill(container: Container, signum: int) -> None:
    require_running(container, "send it a signal")
    if not runtime_of(container.record).kill(container.name, signum):
        raise SandboxError(f"container {container.name} is not running; cannot send it a signal")


def _wait_exit(container: Container, timeout: float | None) -> bool:
    """Wait for the container's first process to end; False when ``timeout`` passed."""
    if container.pid <= 0:
        return True
    try:
        watch = pidfd(container.pid)
    except SandboxError:
        return True  # already gone
    try:
        poller = select.poll()
        poller.register(watch, select.POLLIN)
        return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))
    finally:
        os.close(watch)


def _settled(container: Container) -> Container:
    """The container once its owner has recorded its end (or was reaped)."""
    wait_released(container.state)
    reap_orphans(container.state.parent.parent.parent)
    return refresh(container.state) if container.state.is_dir() else container


def wait(container: Container) -> int:
    """Block until the container ends; its exit code (``wait``)."""
    if container.running or container.status == "created":
        _wait_exit(container, None)
        container = _settled(container)
    if not container.state.is_dir():
        raise NotFoundError(f"container {container.name} was removed as it exited (--rm)")
    if container.exit is None:
        raise SandboxError(f"the exit code of container {container.name} is not known")
    return container.exit.code


def stop(container: Container, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
    """The image's stop signal (SIGTERM by default), then SIGKILL after ``timeout`` seconds."""
    if not container.running:
        return
    runtime = runtime_of(container.record)
    signum = signal.SIGTERM
    if container.record is not None and container.record.stop_signal:
        try:
            signum = signal.Signals(parse_signal(container.record.stop_signal))
        except UsageError:
            signum = signal.SIGTERM
    runtime.kill(container.name, signum)
    if not _wait_exit(container, timeout):
        runtime.kill(container.name, signal.SIGKILL)
        _wait_exit(container, None)
    _settled(container)


def remove(container: Container, *, force: bool = False) -> None:
    """Remove a container's state; a running one only with ``force`` (killed first)."""
    if container.running:
        if not force:
            raise SandboxError(
                f"container {container.name} is running: stop it first, or use rm -f"
            )
        runtime_of(container.record).kill(container.name, signal.SIGKILL)
        _wait_exit(container, None)
        container = _settled(container)
    elif container.status == "created":
        raise SandboxError(f"container {container.name} is starting; try again in a moment")
    if not container.state.is_dir():
        return  # its owner removed it (--rm)
    runtime_of(container.record).delete(container.name)
    rootfs = container.state / "rootfs"
    if rootfs.is_dir() and is_mountpoint(rootfs):
        unmount(rootfs)
    shutil.rmtree(container.state, ignore_errors=True)


def log_paths(container: Container) -> Iterator[tuple[str, Path]]:
    from distroless.runtime.records import STDERR_LOG, STDOUT_LOG

    yield "stdout", container.state / STDOUT_LOG
    yield "stderr", container.state / STDERR_LOG
