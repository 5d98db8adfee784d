"""Who owns a container's state, and reaping the states of owners that were killed.

A ``distroless`` process that prepares a container holds an exclusive ``flock`` on the
container's state directory for as long as it lives, and writes ``owner.json`` into it
(its pid and the runtime that runs the container).  The kernel drops the lock when the
process dies, however it dies, so "``owner.json`` is there but the lock is free" means
exactly "the owner was killed before it could clean up".  The next ``run``, ``build`` or
``prune`` then reaps that state: it kills and deletes the runtime's container (whose
processes would otherwise run on), unmounts the root file system and removes the
directory.  A state whose owner finished normally has no ``owner.json`` (``run`` without
``--rm`` keeps it on purpose) and is left alone; a state being set up by a live process
is locked and is left alone too.

The owner of a foreground container is the ``distroless run`` that started it; the
owner of a background one (``run -d``) is its supervisor
(:mod:`distroless.runtime.supervisor`), which outlives the command.  A container started
without ``--rm`` is marked ``keep``: reaping it still kills its processes and unmounts
its root, but leaves its records and logs, with an ``exit.json`` saying it was killed,
so ``ps -a`` shows it exited and ``rm`` removes it, as for any other.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from distroless.errors import DistrolessError
from distroless.runtime.records import ExitRecord, read_exit, write_exit
from distroless.runtime.rootfs import is_mountpoint, unmount
from distroless.runtime.runc import Runtime

OWNER_FILE = "owner.json"
#: the exit code recorded for a container killed because its owner died (SIGKILL's)
KILLED = 137
#: the exit code recorded when nothing is known of how it ended (docker's)
UNKNOWN = 255


class Lease:
    """The live owner's hold on one state directory (see the module docstring)."""

    def __init__(self, state: Path, runtime: Runtime, *, keep: bool = False) -> None:
        self.state = state
        self._fd: int | None = os.open(state, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        record = {
            "pid": os.getpid(),
            "runtime": runtime.name,
            "state_root": str(runtime.state_root) if runtime.state_root else None,
            "keep": keep,
        }
        (state / OWNER_FILE).write_text(json.dumps(record), encoding="utf-8")

    def release(self) -> None:
        """The owner cleaned up (or keeps the state on purpose): nothing to reap."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            (self.state / OWNER_FILE).unlink()
        os.close(self._fd)
        self._fd = None


def owned(state: Path) -> bool:
    """Whether a live process holds the lease of ``state`` now."""
    try:
        fd = os.open(state, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def wait_released(state: Path) -> None:
    """Block until no live process holds the lease of ``state`` (or it is gone)."""
    try:
        fd = os.open(state, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


def _orphaned(state: Path) -> tuple[int, dict[str, object]] | None:
    """A locked fd and the owner record of ``state`` when its owner is dead, else None."""
    if not (state / OWNER_FILE).is_file():
        return None
    try:
        fd = os.open(state, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        record = json.loads((state / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # locked by a live owner (or another reaper), or gone
        os.close(fd)
        return None
    return fd, record if isinstance(record, dict) else {}


def reap(state_roots: Iterable[Path]) -> list[str]:
    """Reap every state under ``state_roots`` whose owner died; returns the ids reaped.

    Best effort and quiet: a state that cannot be reaped now (not root, runtime missing)
    stays for a later command; nothing here fails the command that calls it.
    """
    reaped: list[str] = []
    for root in state_roots:
        try:
            children = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
        except OSError:
            continue
        for state in children:
            found = _orphaned(state)
            if found is None:
                continue
            fd, record = found
            try:
                name = str(record.get("runtime") or "runc")
                state_root = record.get("state_root")
                try:
                    runtime = Runtime.find(name, Path(str(state_root)) if state_root else None)
                except DistrolessError:
                    continue
                was = runtime.states().get(state.name)
                runtime.delete(state.name)
                rootfs = state / "rootfs"
                if rootfs.is_dir() and is_mountpoint(rootfs):
                    unmount(rootfs)
                if record.get("keep"):
                    if read_exit(state) is None:
                        running = was is not None and was.status in ("running", "paused")
                        write_exit(state, ExitRecord(
                            KILLED if running else UNKNOWN,
                            error=f"its owner (pid {record.get('pid')}) died",
                        ))  # fmt: skip
                    (state / OWNER_FILE).unlink(missing_ok=True)
                else:
                    shutil.rmtree(state, ignore_errors=True)
                reaped.append(state.name)
            except (OSError, DistrolessError):
                continue
            finally:
                os.close(fd)
    return reaped
