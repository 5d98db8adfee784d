"""Driving an OCI runtime binary (runc, or crun with the same command line).

``runc run`` stays in the foreground, passes stdio through (no terminal) and exits with
the container's status (128+N when a signal N killed it).  runc relays the signals it
receives to the container's first process, so this module only has to hand SIGINT,
SIGTERM, SIGHUP and SIGQUIT on to runc; runc runs in its own session so a terminal's
Ctrl-C reaches the container exactly once, through us.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from distroless.errors import SandboxError

RUNTIMES = ("runc", "crun")
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@dataclass(frozen=True)
class Runtime:
    """One runtime binary; ``state_root`` is its ``--root`` (None: the runtime's default)."""

    binary: Path
    name: str = "runc"
    state_root: Path | None = None
    hide_mount: Path | None = None  # a cgroup v2 mount to hide from crun (hybrid hosts)

    @classmethod
    def find(cls, name: str = "runc", state_root: Path | None = None) -> Runtime:
        """Locate ``name`` on PATH, with errors that say how to get it."""
        if name not in RUNTIMES:
            raise SandboxError(f"unsupported runtime {name!r}: use runc or crun")
        if os.geteuid() != 0:
            raise SandboxError(
                f"running containers needs root (rootless {name} is not supported); "
                "run distroless as root"
            )
        found = shutil.which(name)
        if found is None:
            raise SandboxError(f"{name} is not installed; install the Debian package {name}")
        hide = None
        if name == "crun" and hybrid_cgroups():
            hide = unified_mount()
            if hide is None or shutil.which("unshare") is None:
                raise SandboxError(
                    "crun does not support this host's hybrid cgroup v1/v2 layout; "
                    "use --runtime runc"
                )
        return cls(Path(found), name, state_root, hide)

    def _base(self) -> list[str]:
        argv = [str(self.binary)]
        if self.hide_mount is not None:
            # crun refuses hybrid cgroup hosts; in a private mount namespace without the
            # cgroup v2 tree it sees plain cgroup v1, which it supports
            argv = [
                "unshare", "--mount", "--propagation", "private", "--",
                "sh", "-c", f'umount -l "{self.hide_mount}" && exec "$0" "$@"', *argv,
            ]  # fmt: skip
        if self.state_root is not None:
            argv += ["--root", str(self.state_root)]
        return argv

    def run(
        self,
        bundle: Path,
        container_id: str,
        *,
        stdin: IO[bytes] | int | None = None,
        stdout: IO[bytes] | int | None = None,
        stderr: IO[bytes] | int | None = None,
    ) -> int:
        """Run the bundle in the foreground and return the container's exit code."""
        argv = [*self._base(), "run", "--bundle", str(bundle), container_id]
        try:
            proc = subprocess.Popen(
                argv, stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True
            )
        except OSError as exc:
            raise SandboxError(f"cannot start {self.name}: {exc.strerror}") from exc
        with _forwarding(proc):
            code = proc.wait()
        return code if code >= 0 else 128 - code

    def delete(self, container_id: str) -> None:
        """Forget the container (killing it if still running); quiet when it is gone."""
        subprocess.run(
            [*self._base(), "delete", "--force", container_id],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )

    def list_ids(self) -> list[str]:
        """Ids of the containers this runtime knows (in its state root)."""
        proc = subprocess.run(
            [*self._base(), "list", "--format", "json"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not proc.stdout.strip():
            return []
        try:
            items = json.loads(proc.stdout) or []
        except ValueError:
            return []
        return [str(item.get("id")) for item in items if isinstance(item, dict)]

    def exists(self, container_id: str) -> bool:
        return container_id in self.list_ids()


def unified_mount(mountinfo: Path = Path("/proc/self/mountinfo")) -> Path | None:
    """Where the cgroup v2 tree of a hybrid layout is mounted (``/sys/fs/cgroup/unified``)."""
    try:
        lines = mountinfo.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        head, _, tail = line.partition(" - ")
        fields = head.split(" ")
        if tail.split(" ", 1)[0] == "cgroup2" and len(fields) > 4:
            return Path(fields[4])
    return None


def hybrid_cgroups(mountinfo: Path = Path("/proc/self/mountinfo")) -> bool:
    """True when cgroup v1 controllers and a cgroup v2 tree are mounted side by side."""
    try:
        lines = mountinfo.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return False
    kinds = set()
    for line in lines:
        _, _, tail = line.partition(" - ")
        fstype = tail.split(" ", 1)[0]
        if fstype in ("cgroup", "cgroup2"):
            kinds.add(fstype)
    return kinds == {"cgroup", "cgroup2"}


@contextmanager
def _forwarding(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """While runc runs, pass our termination signals to it (it relays them inward)."""

    def forward(signum: int, frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = {}
    try:
        for sig in FORWARDED_SIGNALS:
            previous[sig] = signal.signal(sig, forward)
    except ValueError:
        pass  # not the main thread: signals cannot be caught here, runc still works
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
