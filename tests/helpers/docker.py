"""A private Docker engine (Debian's ``dockerd``) for tests that check our output with docker.

The engine gets its own data root, exec root and socket so it never touches a system daemon,
and runs without a bridge or iptables rules: containers use ``--network none`` or ``host``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.proc import CommandFailed, Timeout, run, wait_until

READY_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
# Unix socket paths are limited to 108 bytes and containerd nests its own under the exec root.
_MAX_BASE_LEN = 48


def find_dockerd() -> Path | None:
    """Locate Debian's dockerd (``docker.io``), which often lives outside a user's PATH."""
    found = shutil.which("dockerd") or (
        "/usr/sbin/dockerd" if os.access("/usr/sbin/dockerd", os.X_OK) else None
    )
    return Path(found) if found else None


def find_docker_cli() -> Path | None:
    """Prefer the client packaged with the engine (same API version), else any ``docker``."""
    if os.access("/usr/bin/docker", os.X_OK):
        return Path("/usr/bin/docker")
    found = shutil.which("docker")
    return Path(found) if found else None


class EngineStartError(RuntimeError):
    """dockerd did not become ready; the message carries the tail of its log."""


#: what engine 20.10 now and then printed when it failed a sound command while the other
#: test worker mounted and unmounted beside it: its archive unpacker's chroot fallback lost a
#: race ("Error processing tar file"), or runc found a container's root without files the
#: image has (a step's /bin/sh, an image's /hello, /busybox/sh denied to a non-root user).
#: Each engine now keeps its mounts in a mount namespace of its own (see :func:`_start_once`);
#: a command failing with one of these is still run once more
ENGINE_FLAKES = ("Error processing tar file", "unable to start container process")


@dataclass
class DockerEngine:
    """A running private dockerd; ``run`` drives the docker CLI against it."""

    host: str
    cli: Path
    data_root: Path
    storage_driver: str
    log: Path
    config_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self,
        *args: str | os.PathLike[str],
        check: bool = True,
        input: str | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS`` against this engine (raises CommandFailed with stderr).

        A command the engine fails with one of :data:`ENGINE_FLAKES` is run once more; a
        second failure is the result."""
        argv = [os.fspath(a) for a in (self.cli, *args)]
        done = run(argv, check=False, env=self.env, input=input, timeout=timeout)
        if done.returncode != 0 and any(flake in done.stderr for flake in ENGINE_FLAKES):
            done = run(argv, check=False, env=self.env, input=input, timeout=timeout)
        if check and done.returncode != 0:
            raise CommandFailed(done.returncode, argv, done.stdout, done.stderr)
        return done

    def run_image(
        self,
        ref: str,
        *args: str,
        network: str = "none",
        options: tuple[str, ...] = (),
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """``docker run --rm --pull never --network NET [OPTIONS] REF ARGS`` (never pulls)."""
        argv = ["run", "--rm", "--pull", "never", "--network", network, *options, ref, *args]
        return self.run(*argv, check=check)

    def load(self, path: Path) -> list[str]:
        """``docker load -i path``; returns the loaded references (or image ids if untagged)."""
        out = self.run("load", "-i", path).stdout
        return re.findall(r"^Loaded image(?: ID)?: (\S+)\s*$", out, flags=re.MULTILINE)

    def import_rootfs(self, tar: Path, ref: str, *changes: str) -> str:
        """``docker import`` a rootfs tar as ``ref``; ``changes`` are ``--change`` lines."""
        args: list[str | os.PathLike[str]] = ["import"]
        for change in changes:
            args += ["--change", change]
        self.run(*args, tar, ref)
        return ref


def _ping(sock_path: Path) -> bool:
    """True when the engine answers ``GET /_ping`` with 200 on its socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(sock_path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except OSError:
        return False
    return data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n", 1)[0]


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _mounts_under(base: Path) -> list[str]:
    """Mount points below ``base``, deepest first, read from /proc/self/mountinfo."""
    prefix = str(base.resolve()) + "/"
    points: list[str] = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def _private_mounts() -> list[str]:
    """``unshare`` (util-linux) putting dockerd in a mount namespace of its own, where
    nothing propagates in or out; it execs dockerd, so the pid stays dockerd's."""
    unshare = shutil.which("unshare")
    return [unshare, "--mount", "--propagation", "private"] if unshare else []


def _unmount_all(base: Path) -> None:
    for point in _mounts_under(base):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _stop(proc: subprocess.Popen[bytes], exec_root: Path) -> None:
    """SIGTERM dockerd and wait; dockerd stops the containerd it started itself."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
    # A containerd left behind by a killed dockerd is ours too: stop it by its pid file.
    pidfile = exec_root / "containerd" / "containerd.pid"
    with contextlib.suppress(OSError, ValueError, ProcessLookupError):
        os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)


def _start_once(
    base: Path, run_base: Path, driver: str, cli: Path, dockerd: Path
) -> tuple[subprocess.Popen[bytes], DockerEngine]:
    data_root = base / f"data-{driver}"
    exec_root = run_base / "x"
    sock = run_base / "docker.sock"
    log = base / f"dockerd-{driver}.log"
    config_dir = base / "client-config"
    for d in (data_root, exec_root, config_dir):
        d.mkdir(parents=True, exist_ok=True)
    sock.unlink(missing_ok=True)
    # An empty config file keeps a host /etc/docker/daemon.json from clashing with our flags.
    daemon_json = base / "daemon.json"
    daemon_json.write_text("{}\n")
    # If a system containerd is running dockerd uses it; our own namespace keeps us apart.
    # containerd takes [A-Za-z0-9]+ joined by single [._-]; a temp name may hold "-_".
    suffix = re.sub(r"[^A-Za-z0-9]+", "-", run_base.name).strip("-") or "engine"
    namespace = f"distroless-test-{os.getpid()}-{suffix}"
    # A private mount namespace: the mounts of the other worker's engine and of our own RUN
    # steps never reach this engine's unpacker or its containers' roots, nor its on the host.
    argv = [
        *_private_mounts(),
        str(dockerd),
        f"--data-root={data_root}",
        f"--exec-root={exec_root}",
        f"--pidfile={run_base / 'dockerd.pid'}",
        f"--host=unix://{sock}",
        f"--storage-driver={driver}",
        f"--config-file={daemon_json}",
        f"--containerd-namespace={namespace}",
        f"--containerd-plugins-namespace={namespace}-plugins",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-masq=false",
        "--userland-proxy=false",
        "--log-level=warn",
    ]
    with open(log, "wb") as logfh:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=logfh, stderr=subprocess.STDOUT
        )
    host = f"unix://{sock}"
    engine = DockerEngine(
        host=host,
        cli=cli,
        data_root=data_root,
        storage_driver=driver,
        log=log,
        config_dir=config_dir,
        env={"DOCKER_HOST": host, "DOCKER_CONFIG": str(config_dir)},
    )

    def died() -> str | None:
        code = proc.poll()
        return None if code is None else f"dockerd exited with {code}:\n{_log_tail(log)}"

    try:
        wait_until(
            lambda: _ping(sock), timeout=READY_TIMEOUT, what="dockerd to answer /_ping", abort=died
        )
    except Timeout as exc:
        _stop(proc, exec_root)
        _unmount_all(data_root)
        raise EngineStartError(f"{exc}\n{_log_tail(log)}") from None
    return proc, engine


@contextlib.contextmanager
def docker_engine(
    base: Path, *, drivers: tuple[str, ...] = ("overlay2", "vfs")
) -> Iterator[DockerEngine]:
    """Start a private dockerd under ``base``, trying each storage driver in turn; stop on exit.

    Raises :class:`EngineStartError` if no driver works and ``FileNotFoundError`` if dockerd
    or the docker CLI is missing; the caller decides whether that fails or skips.
    """
    dockerd, cli = find_dockerd(), find_docker_cli()
    if dockerd is None:
        raise FileNotFoundError("dockerd is not installed (Debian package docker.io)")
    if cli is None:
        raise FileNotFoundError("the docker CLI is not installed (Debian package docker.io)")
    base.mkdir(parents=True, exist_ok=True)
    # Keep the socket and exec root short enough for AF_UNIX even under a long basetemp.
    short = len(str(base)) > _MAX_BASE_LEN
    run_base = Path(tempfile.mkdtemp(prefix="dld-")) if short else base / "run"
    run_base.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    started: tuple[subprocess.Popen[bytes], DockerEngine] | None = None
    for driver in drivers:
        try:
            started = _start_once(base, run_base, driver, cli, dockerd)
            break
        except EngineStartError as exc:
            errors.append(f"[{driver}] {exc}")
    if started is None:
        _cleanup(base, run_base)
        raise EngineStartError(
            "dockerd did not start with any storage driver:\n" + "\n".join(errors)
        )
    proc, engine = started
    try:
        yield engine
    finally:
        _stop(proc, run_base / "x")
        _cleanup(base, run_base)


def _cleanup(base: Path, run_base: Path) -> None:
    for root in (run_base, base):
        _unmount_all(root)
    shutil.rmtree(run_base, ignore_errors=True)
    for child in base.glob("data-*"):
        shutil.rmtree(child, ignore_errors=True)
