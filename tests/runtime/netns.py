"""A network namespace of the test's own, standing in for "the host" of a container.

Network tests must not send traffic anywhere but addresses they made themselves, so the
``distroless`` command under test runs inside this namespace (``argv``): its loopback is
the "host loopback" a container must not reach, and an address from a documentation
range (``198.51.100.1``) plays an outside server a container may reach through its
user-mode network.  Servers are sockets created inside the namespace by a thread that
joined it (a socket stays in the namespace it was made in).
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from tests.helpers import require_tool

CLONE_NEWNET = 0x40000000
OUTSIDE_ADDRESS = "198.51.100.1"


class OwnNetwork:
    """``path`` is the namespace, kept alive by a bind mount until :meth:`close`."""

    def __init__(self, directory: Path) -> None:
        require_tool("ip")
        require_tool("nsenter")
        self.path = directory / "netns"
        self.path.touch()
        # on lo: kernels without the dummy driver have it too; only 127.0.0.0/8 is
        # the loopback a container must not reach
        script = f"ip link set lo up && ip addr add {OUTSIDE_ADDRESS}/32 dev lo"
        subprocess.run(["unshare", f"--net={self.path}", "sh", "-c", script], check=True)
        self._servers: list[socket.socket] = []

    def argv(self, argv: Sequence[str | os.PathLike[str]]) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["nsenter", f"--net={self.path}", *(os.fspath(a) for a in argv)]

    def _in_namespace(self, make: type[socket.socket] | None = None) -> socket.socket:
        """A TCP socket created inside the namespace (by a thread that joined it)."""
        made: list[socket.socket] = []
        errors: list[BaseException] = []

        def enter_and_make() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                made.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=enter_and_make)
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
        return made[0]

    def serve(self, address: str, greeting: bytes) -> int:
        """A server at ``address`` (port chosen by the kernel) sending ``greeting``."""
        server = self._in_namespace()
        server.bind((address, 0))
        server.listen(8)
        self._servers.append(server)

        def answer() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                with conn:
                    conn.sendall(greeting + b"\n")

        threading.Thread(target=answer, daemon=True).start()
        return int(server.getsockname()[1])

    def free_port(self) -> int:
        """A port nothing in the namespace listens on (for the container to bind)."""
        with self._in_namespace() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])

    def connect(self, address: str, port: int) -> bytes | None:
        """The first line a server at ``address:port`` sends, or None when refused."""
        with self._in_namespace() as conn:
            conn.settimeout(10)
            try:
                conn.connect((address, port))
            except OSError:
                return None
            return conn.makefile("rb").readline().strip()

    def close(self) -> None:
        for server in self._servers:
            server.close()
        subprocess.run(["umount", str(self.path)], check=False, capture_output=True)
