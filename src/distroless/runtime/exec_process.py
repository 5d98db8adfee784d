"""``exec``: another process in a running container, confined exactly as its first one.

The process object starts as a copy of the container's own (from the ``config.json`` its
runtime was given): the same capabilities, ``noNewPrivileges``, resource limits, user,
environment and working directory, with the caller's command and overrides on top.  The
runtime joins every namespace of the container's first process (its private network
included), its cgroup, and applies the container's seccomp filter.  ``-u`` names are
resolved in the container's own ``/etc/passwd``, inside its root.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from distroless.errors import SandboxError
from distroless.runtime.container import Stdio, attach_terminal
from distroless.runtime.lifecycle import Container, require_running, runtime_of
from distroless.runtime.records import new_id
from distroless.runtime.users import resolve_user_in


def _merged_env(env: Sequence[str], overrides: Mapping[str, str], terminal: bool) -> list[str]:
    merged: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        merged[key] = value
    merged.update(overrides)
    if terminal:
        merged.setdefault("TERM", "xterm")
    return [f"{k}={v}" for k, v in merged.items()]


def exec_process(
    container: Container,
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    workdir: str | None = None,
    tty: bool = False,
    stdin: Stdio = None,
    stdout: Stdio = None,
    stderr: Stdio = None,
) -> int:
    """Run ``args`` in ``container``; the process's exit code.

    With ``tty`` the process gets a terminal proxied to ours; ``stdin`` None then means
    it reads nothing from us.
    """
    require_running(container, "run a process in it")
    if not args:
        raise SandboxError("exec needs a command to run")
    try:
        config: dict[str, Any] = json.loads((container.state / "config.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise SandboxError(f"the bundle of container {container.name} cannot be read") from exc
    process = dict(config["process"])
    process["args"] = list(args)
    process["terminal"] = tty
    process["env"] = _merged_env(process.get("env") or [], env or {}, tty)
    if workdir is not None:
        if not workdir.startswith("/"):
            raise SandboxError(f"working directory {workdir!r} must be an absolute path")
        process["cwd"] = workdir
    if user is not None:
        resolved = resolve_user_in(container.state / "rootfs", user)
        process["user"] = {"uid": resolved.uid, "gid": resolved.gid}
        if resolved.additional_gids:
            process["user"]["additionalGids"] = list(resolved.additional_gids)
    runtime = runtime_of(container.record)
    token = new_id()[:12]
    spec_file = container.state / f"exec-{token}.json"
    pid_file = container.state / f"exec-{token}.pid"
    log = container.state / f"exec-{token}.log"
    fd = os.open(spec_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(json.dumps(process).encode())
    try:
        if not tty:
            return runtime.exec(
                container.name, spec_file, stdin=stdin, stdout=stdout, stderr=stderr, log=log
            )
        in_fd = None if stdin is None else _fd(stdin, 0)
        return attach_terminal(
            lambda socket, wait: runtime.exec(
                container.name,
                spec_file,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                log=log,
                console_socket=socket,
                pid_file=pid_file,
                wait=wait,
            ),
            pid_file,
            stdin=in_fd,
            stdout=_fd(stdout, 1),
        )
    finally:
        for path in (spec_file, pid_file, log):
            path.unlink(missing_ok=True)


def _fd(stream: Stdio, default: int) -> int:
    if stream is None:
        return default
    if isinstance(stream, int):
        return stream
    return stream.fileno()
