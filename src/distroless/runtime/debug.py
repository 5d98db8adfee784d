"""``distroless debug``: a shell in an image or a running container that has none.

The toolbox (:mod:`distroless.runtime.toolbox`) is bind-mounted read-only at
``/.debug`` and appended to ``PATH``, so the image's own programs still come first.

* An **image** is run as ``run --rm`` would run it (its file system, environment, user
  and working directory; the default private network), with the toolbox's shell as the
  command.  Changes go to the container's own writable layer, gone with it.
* A **running container** is joined as ``kubectl debug`` joins a pod: a new container
  in the target's PID, IPC, UTS and network namespaces, over the target's own root file
  system (so it sees the target's files, including what the target wrote, and its
  volumes), with the target's environment, user, capabilities, ``noNewPrivileges`` and
  seccomp filter.  Only its mount namespace is its own, so the toolbox mount is not
  seen by the target; its mount point is an empty ``/.debug`` directory in the target's
  writable layer, removed afterwards unless another debug session still uses it.

Nothing is written to the store: the image's digest, its blobs and the layer cache are
what they were (``fsck`` agrees).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distroless.errors import SandboxError
from distroless.oci.models import DEFAULT_PATH
from distroless.runtime.container import (
    Sandbox,
    Stdio,
    _create_state,
    _remove_state,
    new_container_id,
    run_image,
)
from distroless.runtime.lifecycle import Container, require_running, runtime_of
from distroless.runtime.options import Mount, RunOptions
from distroless.runtime.records import ContainerRecord, new_id, write_record
from distroless.runtime.toolbox import TOOLBOX_PATH

SHELL = f"{TOOLBOX_PATH}/sh"
DEBUG_LOCK = "debug.lock"


def extended_path(env: Sequence[str]) -> str:
    path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
    return f"{path}:{TOOLBOX_PATH}" if path else TOOLBOX_PATH


def _command(command: Sequence[str]) -> tuple[str, ...]:
    return tuple(command) if command else (SHELL,)


def debug_image(
    store: Any,
    image_name: str,
    toolbox_dir: Path,
    options: RunOptions,
    command: Sequence[str] = (),
    *,
    stdin: Stdio = None,
    stdout: Stdio = None,
    stderr: Stdio = None,
) -> int:
    """Run ``command`` (the toolbox's shell by default) in a throw-away container of the image."""
    config = store.load_image(image_name).config.config
    args = _command(command)
    env = dict(options.env)
    env["PATH"] = extended_path([*config.env, *(f"{k}={v}" for k, v in options.env.items())])
    debug_options = RunOptions(
        args=args[1:],
        entrypoint=args[:1],
        env=env,
        user=options.user,
        workdir=options.workdir,
        mounts=(*options.mounts, Mount(toolbox_dir, TOOLBOX_PATH, readonly=True)),
        network=options.network,
        runtime=options.runtime,
        remove=True,
        seccomp=options.seccomp,
        tty=options.tty,
    )
    return run_image(store, image_name, debug_options, stdin=stdin, stdout=stdout, stderr=stderr)


def _debug_spec(
    target: dict[str, Any],
    pid: int,
    rootfs: Path,
    toolbox_dir: Path,
    container_id: str,
    args: Sequence[str],
    tty: bool,
) -> dict[str, Any]:
    spec = copy.deepcopy(target)
    process = spec["process"]
    process["args"] = list(args)
    process["terminal"] = tty
    env = [e for e in process.get("env") or [] if not e.startswith("PATH=")]
    env.append("PATH=" + extended_path(process.get("env") or []))
    if tty and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    process["env"] = env
    spec["root"] = {"path": str(rootfs), "readonly": False}
    spec.pop("hostname", None)  # the target's UTS namespace keeps its name
    spec.pop("hooks", None)
    linux = spec.setdefault("linux", {})
    linux["namespaces"] = [
        {"type": kind, "path": f"/proc/{pid}/ns/{name}"}
        for kind, name in (("pid", "pid"), ("ipc", "ipc"), ("uts", "uts"), ("network", "net"))
    ] + [{"type": "mount"}]
    linux["cgroupsPath"] = f"/distroless/{container_id}"
    mounts = [m for m in spec.get("mounts") or [] if m.get("destination") != TOOLBOX_PATH]
    mounts.append({
        "destination": TOOLBOX_PATH, "type": "bind", "source": str(toolbox_dir),
        "options": ["rbind", "rprivate", "ro", "nosuid", "nodev"],
    })  # fmt: skip
    spec["mounts"] = mounts
    return spec


def debug_container(
    store_root: Path,
    target: Container,
    toolbox_dir: Path,
    command: Sequence[str] = (),
    *,
    tty: bool = False,
    stdin: Stdio = None,
    stdout: Stdio = None,
    stderr: Stdio = None,
) -> int:
    """Run ``command`` (the toolbox's shell by default) inside the running ``target``."""
    require_running(target, "debug it (debug its image instead)")
    try:
        config: dict[str, Any] = json.loads((target.state / "config.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise SandboxError(f"the bundle of container {target.name} cannot be read") from exc
    rootfs = (target.state / "rootfs").absolute()
    runtime = runtime_of(target.record)
    hex_id = new_id()
    container_id = new_container_id(None, hex_id)
    args = _command(command)
    state_root = target.state.parent
    state, lease = _create_state(state_root, container_id, runtime)
    session = _DebugSession(target.state)
    try:
        if target.record is not None:
            write_record(state, ContainerRecord(
                id=hex_id, name=container_id, image=target.record.image,
                image_digest=target.record.image_digest, command=args, created=time.time(),
                remove=True, tty=tty, network=target.record.network, runtime=runtime.name,
                runtime_root=target.record.runtime_root, debug_of=target.name,
            ))  # fmt: skip
        existed = os.path.lexists(rootfs / TOOLBOX_PATH.lstrip("/"))
        spec = _debug_spec(config, target.pid, rootfs, toolbox_dir, container_id, args, tty)
        box = Sandbox(container_id, state, rootfs, runtime, spec)
        try:
            return box.run_attached(stdin, stdout, stderr)
        finally:
            runtime.delete(container_id)
            session.close(None if existed else rootfs / TOOLBOX_PATH.lstrip("/"))
    finally:
        try:
            _remove_state(state)
        finally:
            lease.release()


class _DebugSession:
    """A shared lock on the target's ``debug.lock`` for as long as a session runs."""

    def __init__(self, target_state: Path) -> None:
        self._path = target_state / DEBUG_LOCK
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def close(self, mount_point: Path | None) -> None:
        """End the session; remove ``mount_point`` if no other session holds the lock."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            return  # another session still has the toolbox mounted there
        try:
            if mount_point is not None:
                with contextlib.suppress(OSError):  # not empty or not ours: leave it
                    os.rmdir(mount_point)
        finally:
            os.close(self._fd)
