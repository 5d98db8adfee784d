"""Background containers (``run -d``): a small process that owns each one.

``distroless run -d`` returns as soon as its container has started, yet somebody must
keep the container's lease (:mod:`distroless.runtime.leases`), keep ``slirp4netns``
serving its private network, collect its exit status and record it, unmount its root
and, with ``--rm``, remove its state.  That is this module, started as
``python -m distroless.runtime.supervisor`` in a session of its own: it reads its
request (JSON) on stdin, forks once so that the command's child exits at once (the
supervisor is nobody's child to wait for), and runs the container exactly as a
foreground ``run`` would, through :func:`distroless.runtime.container.sandbox`, with
stdout and stderr going to ``stdout.log`` and ``stderr.log`` in the container's state.

The runtime runs detached (:mod:`distroless.runtime.monitor`): it exits once the
container's process runs, and the supervisor, a child subreaper, waits for that process.
The command learns the outcome from the first line the supervisor writes on its stdout:
``S<id>`` once the runtime has started the container, or ``E<ErrorClass> <message>``
when it could not be started.  The supervisor's own pid is
the lease's owner: if it is killed, the next command reaps the container as the lease
says (its records stay, showing it killed, unless it was started with ``--rm``).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from distroless import errors
from distroless.errors import DistrolessError, SandboxError
from distroless.oci.models import Platform
from distroless.runtime.console import DEFAULT_SIZE, ConsoleSocket, copy_to_log, set_window_size
from distroless.runtime.monitor import become_subreaper, detached_waiter
from distroless.runtime.options import Mount, RunOptions, check_network
from distroless.runtime.records import STDERR_LOG, STDOUT_LOG


def options_to_json(options: RunOptions) -> dict[str, Any]:
    if options.secrets or options.secret_env:
        raise SandboxError("a background container cannot take build secrets")
    return {
        "args": list(options.args),
        "entrypoint": None if options.entrypoint is None else list(options.entrypoint),
        "env": dict(options.env),
        "user": options.user,
        "workdir": options.workdir,
        "mounts": [[str(m.source), m.destination, m.readonly] for m in options.mounts],
        "network": options.network,
        "hostname": options.hostname,
        "name": options.name,
        "runtime": options.runtime,
        "remove": options.remove,
        "seccomp": options.seccomp,
        "tty": options.tty,
        "init": options.init,
    }


def options_from_json(data: Mapping[str, Any]) -> RunOptions:
    entry = data.get("entrypoint")
    return RunOptions(
        args=tuple(data.get("args") or ()),
        entrypoint=None if entry is None else tuple(entry),
        env=dict(data.get("env") or {}),
        user=data.get("user"),
        workdir=data.get("workdir"),
        mounts=tuple(Mount(Path(s), d, bool(r)) for s, d, r in data.get("mounts") or ()),
        network=check_network(str(data.get("network", "private"))),
        hostname=data.get("hostname"),
        name=data.get("name"),
        runtime=str(data.get("runtime", "runc")),
        remove=bool(data.get("remove")),
        seccomp=bool(data.get("seccomp", True)),
        tty=bool(data.get("tty")),
        init=bool(data.get("init")),
    )


def start_detached(
    store_root: Path,
    image: str,
    digest: str,
    options: RunOptions,
    *,
    platform: Platform | None = None,
    interactive: bool = False,
) -> str:
    """Start a supervisor for one background container; the container's id once it runs.

    ``digest`` pins the image the caller resolved (and unpacked), so a tag moved in the
    meantime does not change what starts.
    """
    request = {
        "store": str(store_root),
        "image": image,
        "digest": digest,
        "platform": str(platform) if platform is not None else None,
        "options": options_to_json(options),
        "interactive": interactive,
    }
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise SandboxError(f"cannot start the container's supervisor: {exc.strerror}") from exc
    assert proc.stdin is not None and proc.stdout is not None
    with proc.stdin:
        proc.stdin.write(json.dumps(request).encode())
    with proc.stdout:
        line = proc.stdout.readline().decode("utf-8", "replace").rstrip("\n")
    proc.wait()
    if line.startswith("S") and len(line) > 1:
        return line[1:]
    if line.startswith("E"):
        kind, _, message = line[1:].partition(" ")
        cls = getattr(errors, kind, None)
        if isinstance(cls, type) and issubclass(cls, DistrolessError):
            raise cls(message)
        raise SandboxError(message)
    raise SandboxError("the container's supervisor exited before starting the container")


class _Report:
    """The one line the supervisor owes the command that started it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream: IO[bytes] | None = stream

    @property
    def pending(self) -> bool:
        return self._stream is not None

    def send(self, line: str) -> None:
        if self._stream is None:
            return
        with contextlib.suppress(OSError):
            self._stream.write(line.replace("\n", " ").encode() + b"\n")
            self._stream.flush()
        with contextlib.suppress(OSError):
            self._stream.close()
        self._stream = None


def supervise(request: Mapping[str, Any], report: _Report) -> None:
    """Run the requested container to its end (this process is its owner)."""
    from distroless.runtime.container import PID_FILE, ImageRef, reap_orphans, sandbox
    from distroless.runtime.rootfs import LayerCache
    from distroless.runtime.runc import Runtime
    from distroless.store import Store

    options = options_from_json(request["options"])
    store = Store(Path(request["store"]))
    platform = Platform.parse(request["platform"]) if request.get("platform") else None
    image = store.load_image(str(request["digest"]), platform)
    runtime = Runtime.find(options.runtime)
    become_subreaper()  # the container's process is ours to wait for once runc detaches
    reap_orphans(store.root)
    cache = LayerCache(store.state_dir("layers"))
    with store.session():
        lowers = cache.ensure_all([d.digest for d in image.layers], store)
    name = str(request["image"])
    ref = ImageRef(name, image.descriptor.digest)
    with sandbox(
        lowers, image.config.config, options, store.state_dir("containers"), runtime,
        what=f"image {name}", image_ref=ref, detached=True,
    ) as box:  # fmt: skip
        assert box.record is not None
        hex_id = box.record.id
        keep_open: int | None = None
        stdin: int = subprocess.DEVNULL
        if request.get("interactive") and not options.tty:
            stdin, keep_open = os.pipe()  # open, never written: the program waits for input
        console = ConsoleSocket() if options.tty else None
        try:
            with (
                (box.state / STDOUT_LOG).open("ab") as out,
                (box.state / STDERR_LOG).open("ab") as err,
            ):

                def serve(master: int, watch: int, log: IO[bytes] = out) -> None:
                    copy_to_log(master, watch, log)

                wait = detached_waiter(
                    box.state / PID_FILE,
                    console=console,
                    serve=serve,
                    started=lambda pid: report.send("S" + hex_id),
                    terminal=lambda master: set_window_size(master, DEFAULT_SIZE),
                )
                try:
                    code = box.run(
                        stdin,
                        out,
                        err,
                        console_socket=console.path if console is not None else None,
                        pid_file=box.state / PID_FILE,
                        wait=wait,
                    )
                except DistrolessError as exc:
                    if not report.pending:  # it ran: ps -a shows how it ended
                        box.finish(125, str(exc))
                    raise
        finally:
            if console is not None:
                console.close()
            for fd in (stdin, keep_open):
                if isinstance(fd, int) and fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        if report.pending:
            report.send("ESandboxError the container exited before it started")
        box.finish(code)


def main() -> int:
    request = json.loads(sys.stdin.buffer.read() or b"{}")
    if os.fork():
        os._exit(0)  # the command waits for this one; the supervisor lives on below
    status = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    report = _Report(status)
    try:
        supervise(request, report)
    except DistrolessError as exc:
        report.send(f"E{type(exc).__name__} {exc}")
        return exc.exit_code
    except BaseException as exc:
        report.send(f"ESandboxError the container's supervisor failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
