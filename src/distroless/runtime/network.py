"""The default container network: a private namespace with user-mode outbound access.

A container shares nothing of the host's network: not its loopback (where registries,
databases and credential helpers listen for local clients only), not its interfaces
(which would let it bind host ports), not its traffic.  ``slirp4netns``, what rootless
podman uses, gives the namespace a ``tap0`` device and forwards the container's TCP and
UDP connections through ordinary sockets of the host, so a build step can still fetch
packages.  ``--disable-host-loopback`` removes its one route back to the host's
loopback (the gateway address ``10.0.2.2``); the container's own ``127.0.0.1`` is its
own.  slirp4netns runs sandboxed and seccomp-filtered, and exits when the caller does
(``--exit-fd``), so a killed ``distroless`` never leaves it behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from distroless.errors import SandboxError

SLIRP = "slirp4netns"
#: the addresses slirp4netns gives the namespace (its defaults with ``--configure``)
CONTAINER_ADDRESS = "10.0.2.100"
DNS_ADDRESS = "10.0.2.3"
MTU = 65520


def find_slirp() -> str:
    found = shutil.which(SLIRP)
    if found is None:
        raise SandboxError(
            "the private container network needs slirp4netns: install the Debian package "
            "slirp4netns, or pass --network none (no network) or --network host"
        )
    return found


def resolv_conf() -> str:
    """The container's resolver: slirp4netns answers DNS at its own address."""
    return f"nameserver {DNS_ADDRESS}\n"


def host_resolv_conf() -> bytes:
    """The host's ``/etc/resolv.conf``, for a step on the host's network; empty without one."""
    try:
        return Path("/etc/resolv.conf").read_bytes()
    except OSError:
        return b""


def _last_line(log: Path) -> str:
    try:
        lines = [ln for ln in log.read_text("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _tun_hint(log: Path) -> str | None:
    """What to do when slirp4netns could not open the tun device (a rootless command)."""
    try:
        text = log.read_text("utf-8", "replace")
    except OSError:
        return None
    if '"/dev/net/tun"' not in text or "Permission denied" not in text:
        return None
    return (
        "/dev/net/tun is not open to this user (Debian makes it mode 0666); open it, or "
        "give the step RUN --network=none"
    )


@contextlib.contextmanager
def user_mode_network(pid: int, log: Path, binary: str | None = None) -> Iterator[None]:
    """Attach slirp4netns to the network namespace of ``pid`` until the block ends."""
    slirp = binary or find_slirp()
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    argv = [
        slirp, "--configure", f"--mtu={MTU}", "--disable-host-loopback",
        "--enable-sandbox", "--enable-seccomp",
        f"--ready-fd={ready_w}", f"--exit-fd={exit_r}", str(pid), "tap0",
    ]  # fmt: skip
    try:
        with log.open("wb") as log_fh:
            proc = subprocess.Popen(
                argv,
                pass_fds=(ready_w, exit_r),
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=log_fh,
                start_new_session=True,
            )
    except OSError as exc:
        for fd in (ready_r, ready_w, exit_r, exit_w):
            os.close(fd)
        raise SandboxError(f"cannot start {SLIRP}: {exc.strerror}") from exc
    os.close(ready_w)
    os.close(exit_r)
    try:
        try:
            ready = os.read(ready_r, 1)
        finally:
            os.close(ready_r)
        if ready != b"1":
            proc.wait()
            detail = _tun_hint(log) or _last_line(log)
            raise SandboxError(
                "cannot set up the container network with slirp4netns"
                + (f": {detail}" if detail else "")
            )
        yield
    finally:
        os.close(exit_w)  # slirp4netns exits when this end closes
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
