"""Watching a container the runtime started in its detached mode (``run -d``, ``exec -d``).

The runtime hands over a terminal's master (``--console-socket``) only when it detaches:
it then exits as soon as the container's process runs, and that process is orphaned.
We become a *child subreaper* (``PR_SET_CHILD_SUBREAPER``) before starting the runtime,
so the orphan is re-parented to us, not to the host's init: we can wait for it and read
its exit status, as a conmon or a containerd shim does.  While it runs we pass our
termination signals to it directly (the runtime is gone and cannot relay them).

Used by foreground containers with a terminal (``run -t``, ``exec -t``, ``debug``) and by
the supervisor of background containers (:mod:`distroless.runtime.supervisor`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from distroless.errors import SandboxError
from distroless.runtime.console import ConsoleSocket, pidfd

PR_SET_CHILD_SUBREAPER = 36
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
#: what we report when the process cannot be waited for (it was not re-parented to us)
UNKNOWN_EXIT = 255

#: ``serve(master, watch)``: handle the terminal until ``watch`` (a pidfd) is readable
Serve = Callable[[int, int], None]


def become_subreaper() -> None:
    """Orphans among our descendants become our children (so we can wait for them)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"cannot become a child subreaper: {os.strerror(err)}")


@contextlib.contextmanager
def forwarding_to(pid: int) -> Iterator[None]:
    """Our termination signals go to ``pid`` (the container's first process) meanwhile."""

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    previous = {}
    try:
        for sig in FORWARDED:
            previous[sig] = signal.signal(sig, forward)
    except ValueError:
        pass  # not the main thread
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_readable(fd: int) -> None:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll():
        pass


def _exit_code(pid: int) -> int:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return UNKNOWN_EXIT
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def detached_waiter(
    pid_file: Path,
    *,
    console: ConsoleSocket | None = None,
    serve: Serve | None = None,
    started: Callable[[int], None] | None = None,
    terminal: Callable[[int], None] | None = None,
) -> Callable[[subprocess.Popen[bytes]], int]:
    """A :data:`distroless.runtime.runc.Waiter` for a runtime started with ``-d``.

    It receives the terminal (with ``console``) while the runtime sets the container
    up, waits for the runtime to exit, then for the container's process (named in
    ``pid_file``), calling ``started(pid)`` in between and ``serve`` with the terminal.
    ``terminal(master)`` sees the terminal as soon as it arrives (to size it before the
    container's process can look).
    A failing runtime's status is returned as is (its log says why).
    """

    def wait(proc: subprocess.Popen[bytes]) -> int:
        master = None
        try:
            if console is not None:
                runtime_watch = pidfd(proc.pid)
                try:
                    master = console.receive(runtime_watch)
                    if master is not None and terminal is not None:
                        terminal(master)
                finally:
                    os.close(runtime_watch)
            code = proc.wait()
            if code != 0:
                return code
            try:
                pid = int(pid_file.read_text(encoding="ascii").strip())
            except (OSError, ValueError) as exc:
                raise SandboxError(f"the runtime left no pid file at {pid_file}") from exc
            watch = pidfd(pid)
            try:
                with forwarding_to(pid):
                    if started is not None:
                        started(pid)
                    if master is not None and serve is not None:
                        serve(master, watch)
                    _wait_readable(watch)
            finally:
                os.close(watch)
            return _exit_code(pid)
        finally:
            if master is not None:
                os.close(master)

    return wait
