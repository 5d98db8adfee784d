"""Driving an OCI runtime binary (runc, or crun with the same command line).

``runc run`` stays in the foreground, passes stdio through (no terminal) and exits with
the container's status (128+N when a signal N killed it).  runc relays the signals it
receives to the container's first process, so this module only has to hand SIGINT,
SIGTERM, SIGHUP and SIGQUIT on to runc; runc runs in its own session so a terminal's
Ctrl-C reaches the container exactly once, through us.

A container with a private network or private files is started through
:mod:`distroless.runtime.launcher`, which gives the runtime namespaces of its own before
it execs it (same pid, so signals and the exit status work the same way).  runc reports
its own failures (an image whose entrypoint cannot be executed, a kernel refusing a
mount) in a JSON log; they become one :class:`SandboxError`, not a bare exit status 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from distroless.errors import SandboxError
from distroless.runtime import launcher, userns
from distroless.runtime.launcher import NOT_STARTED
from distroless.runtime.network import user_mode_network

RUNTIMES = ("runc", "crun")
#: How the caller waits for the runtime it started: ``Popen.wait`` unless it also serves
#: a terminal or reports a start (:mod:`distroless.runtime.console`, the supervisor).
Waiter = Callable[[subprocess.Popen[bytes]], int]
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@dataclass(frozen=True)
class PrivateFile:
    """A file only the container sees, written by the launcher into its private tmpfs."""

    name: str
    data: bytes = field(repr=False)
    mode: int = 0o400
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class LaunchPlan:
    """What the runtime must be started inside (see :mod:`distroless.runtime.launcher`).

    ``private_dir`` is a directory of the state that becomes a tmpfs visible only to the
    runtime and the container, holding ``files``; it is then the bundle, so a
    ``config.json`` among the files (with secret variables in it) stays there too.
    """

    private_network: bool = False
    private_dir: Path | None = None
    files: tuple[PrivateFile, ...] = ()
    slirp_log: Path | None = None

    @property
    def needed(self) -> bool:
        return self.private_network or self.private_dir is not None


@dataclass(frozen=True)
class RuntimeState:
    """What the runtime says of one container: ``running``, ``created``, ``stopped``…"""

    status: str
    pid: int


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _plain_wait(proc: subprocess.Popen[bytes]) -> int:
    return proc.wait()


def _detach_args(console_socket: Path | None, pid_file: Path | None) -> list[str]:
    if pid_file is None:
        if console_socket is not None:
            raise SandboxError("a console socket needs the runtime's detached mode")
        return []
    pid_file.unlink(missing_ok=True)
    argv = ["--detach", "--pid-file", str(pid_file)]
    if console_socket is not None:
        argv += ["--console-socket", str(console_socket)]
    return argv


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
            why = userns.missing_setup(_user_name(), os.geteuid(), os.getegid())
            raise SandboxError(
                f"running containers needs root or a user namespace with subordinate ids: "
                f"{why or 'the user namespace could not be entered'}"
            )
        if state_root is None:
            state_root = userns.runtime_state_root()
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
        log: Path | None = None,
        plan: LaunchPlan | None = None,
        console_socket: Path | None = None,
        pid_file: Path | None = None,
        wait: Waiter | None = None,
    ) -> int:
        """Run the bundle and return the container's exit code.

        With ``log``, the runtime's own errors are read from it: a container that never
        started raises :class:`SandboxError` instead of returning runc's status 1.
        With ``pid_file`` the runtime detaches once the container runs (writing its
        first process's pid there), and ``wait`` waits for that process
        (:func:`distroless.runtime.monitor.detached_waiter`); ``console_socket`` is
        where a detaching runtime sends a terminal's master, when the bundle asks for one.
        """
        argv = self._logged(log)
        argv += ["run", "--bundle", str(bundle)]
        argv += _detach_args(console_socket, pid_file)
        argv.append(container_id)
        waiter = wait or _plain_wait
        if plan is not None and plan.needed:
            code = self._launch(argv, plan, stdin, stdout, stderr, waiter)
        else:
            code = self._foreground(argv, stdin, stdout, stderr, waiter)
        return self._checked(code, log, "start the container")

    def exec(
        self,
        container_id: str,
        process: Path,
        *,
        stdin: IO[bytes] | int | None = None,
        stdout: IO[bytes] | int | None = None,
        stderr: IO[bytes] | int | None = None,
        log: Path | None = None,
        console_socket: Path | None = None,
        pid_file: Path | None = None,
        wait: Waiter | None = None,
    ) -> int:
        """Run ``process`` (a ``config.json`` process object) in a running container.

        The runtime joins every namespace of the container's first process, its cgroup,
        and applies the container's seccomp filter; capabilities, ``noNewPrivileges`` and
        the user come from ``process``.  ``pid_file`` and ``console_socket`` as for
        :meth:`run`.
        """
        argv = self._logged(log)
        argv += ["exec", "--process", str(process)]
        argv += _detach_args(console_socket, pid_file)
        argv.append(container_id)
        code = self._foreground(argv, stdin, stdout, stderr, wait or _plain_wait)
        return self._checked(code, log, "run the process in the container")

    def _logged(self, log: Path | None) -> list[str]:
        argv = self._base()
        if log is not None:
            log.unlink(missing_ok=True)
            argv += ["--log", str(log), "--log-format", "json"]
        return argv

    def _foreground(
        self,
        argv: list[str],
        stdin: IO[bytes] | int | None,
        stdout: IO[bytes] | int | None,
        stderr: IO[bytes] | int | None,
        wait: Waiter,
    ) -> int:
        try:
            proc = subprocess.Popen(
                argv, stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True
            )
        except OSError as exc:
            raise SandboxError(f"cannot start {self.name}: {exc.strerror}") from exc
        with _forwarding(proc):
            try:
                return wait(proc)
            except BaseException:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                raise

    def _checked(self, code: int, log: Path | None, what: str) -> int:
        code = code if code >= 0 else 128 - code
        if code != 0 and log is not None:
            failure = runtime_failure(log)
            if failure is not None:
                raise SandboxError(f"{self.name} could not {what}: {failure}")
        return code

    def kill(self, container_id: str, signum: int) -> bool:
        """Send ``signum`` to the container's first process; False when it is not running."""
        proc = subprocess.run(
            [*self._base(), "kill", container_id, str(signum)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0

    def states(self) -> dict[str, RuntimeState]:
        """Every container this runtime knows (in its state root), by id."""
        proc = subprocess.run(
            [*self._base(), "list", "--format", "json"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not proc.stdout.strip():
            return {}
        try:
            items = json.loads(proc.stdout) or []
        except ValueError:
            return {}
        out: dict[str, RuntimeState] = {}
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                pid = item.get("pid")
                out[item["id"]] = RuntimeState(
                    str(item.get("status", "")), pid if isinstance(pid, int) else 0
                )
        return out

    def _launch(
        self,
        argv: list[str],
        plan: LaunchPlan,
        stdin: IO[bytes] | int | None,
        stdout: IO[bytes] | int | None,
        stderr: IO[bytes] | int | None,
        wait: Waiter,
    ) -> int:
        """Start ``argv`` through the launcher; returns the runtime's raw exit status.

        A private network alone needs no files, so util-linux ``unshare`` and a line of
        shell do the launcher's handshake (it costs a millisecond, not a Python start).
        """
        ctrl_r, ctrl_w = os.pipe()
        status_r, status_w = os.pipe()
        files = plan.private_dir is not None
        if files:
            script = launcher.__file__
            start = [sys.executable, "-I", "-S", script, str(ctrl_r), str(status_w), "--"]
        else:
            shell = _NET_ONLY.format(ctrl=ctrl_r, status=status_w, not_started=NOT_STARTED)
            start = ["unshare", "--net", "--", "sh", "-c", shell, "sh"]
        try:
            proc = subprocess.Popen(
                [*start, *argv],
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(ctrl_r, status_w),
                start_new_session=True,
            )
        except OSError as exc:
            for fd in (ctrl_r, ctrl_w, status_r, status_w):
                os.close(fd)
            raise SandboxError(f"cannot start {self.name}: {exc.strerror}") from exc
        os.close(ctrl_r)
        os.close(status_w)
        with _forwarding(proc), os.fdopen(ctrl_w, "wb") as ctrl, os.fdopen(status_r, "rb") as st:
            try:
                if files:
                    _send_plan(ctrl, plan)
                answer = st.read(1)
                if answer != b"R":
                    raise SandboxError(_launch_error(proc, answer + st.read()))
                network = (
                    user_mode_network(proc.pid, plan.slirp_log or Path(os.devnull))
                    if plan.private_network
                    else contextlib.nullcontext()
                )
                with network:
                    ctrl.write(b"G\n")
                    ctrl.close()
                    code = wait(proc)
                if files:  # the launcher's exec closed its end: anything here is an error
                    rest = st.read()
                    if rest.startswith(b"E"):
                        raise SandboxError(_launch_error(proc, rest))
                return code
            except BrokenPipeError:  # the launcher died before reading the plan
                proc.wait()
                raise SandboxError(_launch_error(proc, st.read())) from None
            except BaseException:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                raise

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
        return list(self.states())

    def exists(self, container_id: str) -> bool:
        return container_id in self.list_ids()


#: The launcher's handshake in shell, for a private network without private files.
_NET_ONLY = (
    "printf R >/dev/fd/{status} && IFS= read -r go </dev/fd/{ctrl} && "
    '[ "$go" = G ] && exec "$@"; exit {not_started}'
)


def _send_plan(ctrl: IO[bytes], plan: LaunchPlan) -> None:
    header: dict[str, Any] = {
        "net": plan.private_network,
        "mount": plan.private_dir is not None,
        "private_dir": str(plan.private_dir) if plan.private_dir is not None else None,
        "files": [
            {"name": f.name, "size": len(f.data), "mode": f.mode, "uid": f.uid, "gid": f.gid}
            for f in plan.files
        ],
    }
    ctrl.write(json.dumps(header).encode() + b"\n")
    for f in plan.files:
        ctrl.write(f.data)
    ctrl.flush()


def _launch_error(proc: subprocess.Popen[bytes], answer: bytes) -> str:
    text = answer.decode("utf-8", "replace").strip()
    if text.startswith("E"):
        return f"cannot start the container: {text[1:].strip()}"
    proc.wait()
    return f"cannot start the container: its launcher exited with status {proc.returncode}"


def runtime_failure(log: Path) -> str | None:
    """The runtime's own error from its JSON log, as one line; None when it logged none."""
    try:
        text = log.read_text("utf-8", "replace")
    except OSError:
        return None
    message = None
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("level") in ("error", "fatal"):
            message = str(record.get("msg", "")).strip()
    if not message:
        return None
    for prefix in ("runc run failed: ", "runc create failed: "):
        message = message.removeprefix(prefix)
    return " ".join(message.split())


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

    def forward(signum: int, _frame: FrameType | None) -> None:
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
