"""Running external tools with errors that carry their stderr, and polling with a deadline."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_TAIL = 4000


class CommandFailed(subprocess.CalledProcessError):
    """A tool exited non-zero; the message includes its stderr so the test report is useful."""

    def __str__(self) -> str:
        stderr = (
            self.stderr
            if isinstance(self.stderr, str)
            else (self.stderr or b"").decode("utf-8", "replace")
        )
        stdout = (
            self.stdout
            if isinstance(self.stdout, str)
            else (self.stdout or b"").decode("utf-8", "replace")
        )
        cmd = self.cmd if isinstance(self.cmd, str) else " ".join(map(str, self.cmd))
        text = f"command failed with exit code {self.returncode}: {cmd}"
        if stderr.strip():
            text += f"\n--- stderr ---\n{stderr[-_TAIL:]}"
        if stdout.strip():
            text += f"\n--- stdout ---\n{stdout[-_TAIL:]}"
        return text


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` capturing text output; raise :class:`CommandFailed` on failure if ``check``."""
    args = [os.fspath(a) for a in argv]
    merged = dict(os.environ)
    if env is not None:
        merged.update(env)
    proc = subprocess.run(
        args,
        env=merged,
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise CommandFailed(proc.returncode, args, proc.stdout, proc.stderr)
    return proc


class Timeout(AssertionError):
    """A polled condition did not become true before its deadline."""


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    abort: Callable[[], str | None] | None = None,
) -> None:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass.

    ``abort`` is checked on each round and may return a message to give up early, e.g. when
    the process being waited for has already exited; polling a dead process to the deadline
    would only hide the real error.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if abort is not None:
            message = abort()
            if message is not None:
                raise Timeout(f"gave up waiting for {what}: {message}")
        if time.monotonic() >= deadline:
            raise Timeout(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
