"""Starts the container runtime inside namespaces of its own, as a separate program.

``python -I -S launcher.py CTRL STATUS -- runc run ...`` is how :mod:`distroless.runtime.runc`
starts a container that needs something the host must never see:

* a private network namespace, which the runtime and the container then share, and to
  which ``slirp4netns`` attaches by this process's pid (it stays the same across the
  ``exec`` of the runtime); nothing is bind-mounted on the host to keep it alive, so it
  vanishes with the container;
* a tmpfs in a private mount namespace holding the step's ``config.json`` and its secret
  files.  The values arrive through the ``CTRL`` pipe and are written only there: they
  never touch a disk, and the host's mount table never shows them.  The tmpfs lives as
  long as the runtime and the container do, even when the caller is killed.

The protocol over ``CTRL``: one JSON line (the plan), then the bytes of each file in the
plan's order.  The launcher answers ``R`` on ``STATUS`` when the namespaces exist, and
waits for ``G`` (go) on ``CTRL`` before it becomes the runtime; end of file instead (the
caller died) makes it exit without starting anything.  A failure is ``E`` and one line.

It imports nothing of the project and runs with ``-I -S``, so it starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
#: the exit status when the container never started (docker's "cannot start" code)
NOT_STARTED = 125


class LaunchError(Exception):
    pass


def _read_exact(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, min(left, 1 << 16))
        if not chunk:
            raise LaunchError("the caller went away while sending the container's files")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_line(fd: int) -> bytes:
    out = bytearray()
    while not out.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            raise LaunchError("the caller went away before sending the plan")
        out += chunk
    return bytes(out)


def _libc_call(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise LaunchError(f"{what}: {os.strerror(err)}")


def _write_file(directory: str, spec: dict[str, Any], data: bytes) -> None:
    name = str(spec["name"])
    if "/" in name or name in ("", ".", ".."):
        raise LaunchError(f"bad private file name {name!r}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(os.path.join(directory, name), flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchown(fd, int(spec.get("uid", 0)), int(spec.get("gid", 0)))
        os.fchmod(fd, int(spec.get("mode", 0o400)))
    finally:
        os.close(fd)


def prepare(plan: dict[str, Any], ctrl: int) -> None:
    """Enter the namespaces the plan asks for and fill its private directory."""
    libc = ctypes.CDLL(None, use_errno=True)
    flags = (CLONE_NEWNS if plan.get("mount") else 0) | (CLONE_NEWNET if plan.get("net") else 0)
    if flags:
        _libc_call(libc.unshare(flags), "cannot create the container's namespaces")
    private = plan.get("private_dir")
    files = plan.get("files") or []
    if private:
        if not plan.get("mount"):
            raise LaunchError("a private directory needs a private mount namespace")
        _libc_call(
            libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None),
            "cannot make the runtime's mounts private",
        )
        size = sum(int(f["size"]) for f in files) + (1 << 20)
        options = f"mode=0700,size={size}".encode()
        _libc_call(
            libc.mount(
                b"tmpfs", os.fsencode(private), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options
            ),
            f"cannot mount a tmpfs on {private}",
        )
    for spec in files:
        data = _read_exact(ctrl, int(spec["size"]))
        _write_file(str(private), spec, data)


def main(argv: list[str]) -> int:
    if "--" not in argv or len(argv) < 5:
        print("usage: launcher.py CTRL_FD STATUS_FD -- RUNTIME ARGS...", file=sys.stderr)
        return 2
    ctrl, status = int(argv[1]), int(argv[2])
    runtime_argv = argv[argv.index("--") + 1 :]
    os.set_inheritable(status, False)  # gone at exec: end of file means "started"
    try:
        plan = json.loads(_read_line(ctrl))
        prepare(plan, ctrl)
        os.write(status, b"R")
        if os.read(ctrl, 1) != b"G":
            return NOT_STARTED  # the caller died or gave up: start nothing
        os.close(ctrl)
        os.execvp(runtime_argv[0], runtime_argv)  # noqa: S606 (the runtime, by design)
    except (LaunchError, OSError, ValueError, KeyError) as exc:
        message = str(exc).replace("\n", " ")
        if isinstance(exc, OSError) and exc.filename:
            message = f"{exc.strerror}: {exc.filename}"
        with contextlib.suppress(OSError):
            os.write(status, b"E" + message.encode("utf-8", "replace") + b"\n")
    return NOT_STARTED


if __name__ == "__main__":
    sys.exit(main(sys.argv))
