"""Pseudo-terminals for containers (``run -t``, ``exec -t``, ``debug``).

With ``process.terminal`` set, the runtime creates the pseudo-terminal itself, inside
the container's namespaces (so the container's ``/dev/pts`` holds its slave end), and
hands the master end back over a unix socket named by ``--console-socket``: one
message whose ancillary data (``SCM_RIGHTS``) carries the file descriptor.  We listen
on that socket before the runtime starts and then either proxy the master to our own
terminal (foreground) or copy what it prints into a log (background containers).

The proxy puts our terminal in raw mode so that every key, Ctrl-C and Ctrl-D included,
reaches the container's line discipline as it would in docker: Ctrl-C becomes SIGINT
for the container's foreground job, Ctrl-D is end of file for its shell.  Window size
changes (SIGWINCH) are copied to the master, which signals the container's foreground
job in turn.  The socket lives in a private directory of its own (unix socket paths
are limited to 108 bytes, a store's state directory may be deeper than that).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import socket
import struct
import tempfile
import termios
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import IO

from distroless.errors import SandboxError

#: what a terminal is sized to when we have none to copy the size from
DEFAULT_SIZE = (24, 80)
_CHUNK = 1 << 16
_MAX_SOCKET_PATH = 100


def _socket_dir() -> str:
    base = tempfile.gettempdir()
    if len(base) > _MAX_SOCKET_PATH - 40:
        base = "/tmp"
    return tempfile.mkdtemp(prefix="distroless-console-", dir=base)


def pidfd(pid: int) -> int:
    """A descriptor that becomes readable when process ``pid`` exits (Linux 5.3+)."""
    try:
        return os.pidfd_open(pid)
    except OSError as exc:
        raise SandboxError(f"cannot watch process {pid}: {exc.strerror}") from exc


class ConsoleSocket:
    """The listening end of ``--console-socket``; :meth:`receive` returns the master."""

    def __init__(self) -> None:
        self._dir = _socket_dir()
        self.path = Path(self._dir) / "console.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            self._sock.bind(str(self.path))
            self._sock.listen(1)
        except OSError:
            self.close()
            raise

    def receive(self, runtime_pidfd: int) -> int | None:
        """The pty master the runtime sends; None when the runtime exits without one."""
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN)
        poller.register(runtime_pidfd, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self._sock.fileno() in ready:
                break
            if runtime_pidfd in ready:
                return None
        conn, _ = self._sock.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        if not fds:
            raise SandboxError("the runtime closed its console socket without sending a terminal")
        for extra in fds[1:]:
            os.close(extra)
        os.set_inheritable(fds[0], False)
        return fds[0]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            os.rmdir(self._dir)


def window_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal ``fd``, or None when it is not one."""
    try:
        packed = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None
    rows, cols, _, _ = struct.unpack("HHHH", packed)
    return (rows, cols) if rows and cols else None


def set_window_size(fd: int, size: tuple[int, int]) -> None:
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))


def our_size(*fds: int) -> tuple[int, int]:
    for fd in fds:
        size = window_size(fd)
        if size is not None:
            return size
    return DEFAULT_SIZE


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Our terminal in raw mode (keys go to the container untouched), restored afterwards."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _no_output_processing(fd: int) -> Iterator[None]:
    """Our terminal passes the container's output as is (its own terminal did ``\\r\\n``)."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    changed = list(saved)
    changed[1] = saved[1] & ~termios.OPOST
    termios.tcsetattr(fd, termios.TCSANOW, changed)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _on_resize(handler: Callable[[], None]) -> Iterator[None]:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        handler()

    try:
        previous = signal.signal(signal.SIGWINCH, on_signal)
    except ValueError:  # not the main thread: sizes are copied once, at the start
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


def _read(fd: int) -> bytes:
    """A chunk from ``fd``; b"" at end of file or when the pty's other side is gone (EIO)."""
    try:
        return os.read(fd, _CHUNK)
    except BlockingIOError:
        raise
    except OSError as exc:
        if exc.errno == errno.EIO:
            return b""
        raise


def _drain(master: int, sink: Callable[[bytes], None]) -> None:
    os.set_blocking(master, False)
    while True:
        try:
            data = _read(master)
        except BlockingIOError:
            return
        if not data:
            return
        sink(data)


class TerminalGone(SandboxError):
    """Our own terminal hung up (or our output was closed) while the container ran."""


def proxy(master: int, watch: int, *, stdin: int | None, stdout: int) -> None:
    """Copy between the pty master and our terminal until ``watch`` (a pidfd) is readable.

    ``stdin`` is None without ``-i``: the container then reads nothing from us, and
    signals from our terminal reach it as they would without a terminal.  When our
    terminal goes away, :class:`TerminalGone` ends the container with it.
    """

    def out(data: bytes) -> None:
        try:
            _write_all(stdout, data)
        except OSError as exc:
            raise TerminalGone("the terminal went away; stopped the container") from exc

    def resize() -> None:
        set_window_size(master, our_size(stdout, *(() if stdin is None else (stdin,))))

    resize()
    interactive = stdin is not None and os.isatty(stdin)
    guard = raw_mode(stdin) if interactive and stdin is not None else _no_output_processing(stdout)
    with guard, _on_resize(resize):
        poller = select.poll()
        poller.register(master, select.POLLIN)
        poller.register(watch, select.POLLIN)
        if stdin is not None:
            poller.register(stdin, select.POLLIN)
        while True:
            for fd, _event in poller.poll():
                if fd == watch:
                    _drain(master, out)
                    return
                if fd == master:
                    data = _read(master)
                    if not data:
                        poller.unregister(master)
                        continue
                    out(data)
                elif fd == stdin:
                    try:
                        data = os.read(stdin, _CHUNK)
                    except OSError as exc:
                        raise TerminalGone("the terminal went away; stopped the container") from exc
                    if not data:  # our input ended: the container keeps its terminal
                        poller.unregister(stdin)
                        continue
                    _write_all(master, data)


def copy_to_log(master: int, watch: int, log: IO[bytes]) -> None:
    """A background container's terminal output, appended to its log until it exits."""

    def sink(data: bytes) -> None:
        log.write(data)
        log.flush()

    poller = select.poll()
    poller.register(master, select.POLLIN)
    poller.register(watch, select.POLLIN)
    while True:
        for fd, _event in poller.poll():
            if fd == watch:
                _drain(master, sink)
                return
            data = _read(master)
            if not data:
                poller.unregister(master)
                continue
            sink(data)
