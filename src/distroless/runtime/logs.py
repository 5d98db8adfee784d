"""A background container's output: ``stdout.log`` and ``stderr.log`` in its state.

The container writes the files itself (they are its standard output and error), so
they are complete even if its supervisor dies.  ``logs`` shows each on the stream it
came from; following them waits on the container's pidfd between reads, so it ends as
soon as the container does.
"""

from __future__ import annotations

import contextlib
import os
import select
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from distroless.runtime.console import pidfd
from distroless.runtime.lifecycle import Container, log_paths, refresh

_CHUNK = 1 << 16
#: how long ``logs -f`` waits between looks at a container that prints nothing
FOLLOW_INTERVAL = 0.2

Chunk = tuple[str, bytes]


def _tail_offset(fh: BinaryIO, lines: int) -> int:
    """Where the last ``lines`` lines of ``fh`` start (reading backwards in blocks)."""
    end = fh.seek(0, os.SEEK_END)
    if lines <= 0:
        return end
    position = end
    seen = 0
    skip_last_newline = True
    while position > 0:
        size = min(_CHUNK, position)
        position -= size
        fh.seek(position)
        block = fh.read(size)
        for index in range(len(block) - 1, -1, -1):
            if block[index] != 0x0A:
                continue
            if skip_last_newline and position + index == end - 1:
                continue
            seen += 1
            if seen == lines:
                return position + index + 1
        skip_last_newline = False
    return 0


def _open(path: Path, tail: int | None) -> BinaryIO | None:
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return None
    if tail is not None:
        fh.seek(_tail_offset(fh, tail))
    return fh


def _read_all(name: str, fh: BinaryIO) -> Iterator[Chunk]:
    while data := fh.read(_CHUNK):
        yield name, data


def read_logs(container: Container, *, tail: int | None = None) -> Iterator[Chunk]:
    """What the container printed so far: ("stdout"|"stderr", bytes) chunks."""
    for name, path in log_paths(container):
        fh = _open(path, tail)
        if fh is not None:
            with fh:
                yield from _read_all(name, fh)


def follow_logs(container: Container, *, tail: int | None = None) -> Iterator[Chunk]:
    """Everything printed so far, then what it prints until the container ends."""
    files: dict[str, BinaryIO | None] = {}
    paths = dict(log_paths(container))
    with contextlib.ExitStack() as stack:
        for name, path in paths.items():
            fh = _open(path, tail)
            if fh is not None:
                stack.enter_context(fh)
            files[name] = fh
        watch = None
        if container.pid > 0:
            with contextlib.suppress(Exception):
                watch = pidfd(container.pid)
        if watch is not None:
            stack.callback(os.close, watch)
        poller = select.poll()
        if watch is not None:
            poller.register(watch, select.POLLIN)
        ended = not container.running
        while True:
            got = False
            for name, path in paths.items():
                fh = files[name]
                if fh is None:
                    fh = _open(path, None)
                    if fh is None:
                        continue
                    stack.enter_context(fh)
                    files[name] = fh
                for chunk in _read_all(name, fh):
                    got = True
                    yield chunk
            if ended:
                return
            if got:
                continue
            if watch is not None:  # readable once the container's process has ended
                ended = bool(poller.poll(int(FOLLOW_INTERVAL * 1000)))
            else:
                poller.poll(int(FOLLOW_INTERVAL * 1000))
                current = refresh(container.state) if container.state.is_dir() else None
                ended = current is None or not current.running
