"""One container from start to clean-up: state dir, root file system, bundle, runtime.

:class:`Sandbox` is shared by ``distroless run`` (:func:`run_image`) and by ``RUN`` steps
(:mod:`distroless.runtime.capture`).  Whatever happens (a failing command, a signal, an
error while preparing) the runtime's container, the overlay mount and, with ``remove``,
the state directory are gone when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import resource
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from distroless.errors import SandboxError, UsageError
from distroless.oci.models import DEFAULT_PATH, ContainerConfig, Platform
from distroless.reporter import NullReporter, Reporter
from distroless.rootpath import SymlinkLoopError, host_path_in_root, host_readlink, resolve_in_root
from distroless.runtime import namespaces, userns
from distroless.runtime.console import ConsoleSocket, our_size, proxy, set_window_size
from distroless.runtime.emulation import check_runnable
from distroless.runtime.hostbin import find_tini
from distroless.runtime.leases import Lease, reap
from distroless.runtime.monitor import become_subreaper, detached_waiter
from distroless.runtime.network import (
    CONTAINER_ADDRESS,
    find_slirp,
    host_resolv_conf,
    resolv_conf,
)
from distroless.runtime.options import BUILD_HOSTNAME, Mount, RunOptions
from distroless.runtime.records import (
    ContainerRecord,
    ExitRecord,
    new_id,
    write_exit,
    write_record,
)
from distroless.runtime.rootfs import LayerCache, container_rootfs, is_mountpoint, unmount
from distroless.runtime.runc import LaunchPlan, PrivateFile, Runtime, Waiter
from distroless.runtime.seccomp import profile as seccomp_profile
from distroless.runtime.spec import (
    ProcessSpec,
    build_hosts_file,
    build_spec,
    hosts_file,
    process_args,
    process_cwd,
    process_env,
)
from distroless.runtime.users import resolve_user_in

_NULL_REPORTER = NullReporter()

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
Stdio = IO[bytes] | int | None
#: where a detached runtime writes the pid of the container's first process
PID_FILE = "pid"


def new_container_id(name: str | None, hex_id: str | None = None) -> str:
    if name is None:
        return "distroless-" + (hex_id or uuid.uuid4().hex)[:12]
    if not _NAME_RE.match(name):
        raise UsageError(f"invalid container name {name!r}: use letters, digits, '_', '.' and '-'")
    return name


def secure_join(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """``path`` inside the container root ``root``, as the container will see it.

    The one resolver (:mod:`distroless.rootpath`) interprets links and ``..`` inside
    ``root``, so the host path returned never lies outside it.
    """
    try:
        return host_path_in_root(root, path, follow_last=follow_last)
    except SymlinkLoopError:
        raise SandboxError(f"too many symbolic links resolving {path!r} in the image") from None


@dataclass
class Sandbox:
    """A prepared container: call :meth:`run` inside the ``with`` of :func:`sandbox`.

    ``mount_destinations`` are where the caller's mounts and secrets landed in the root
    file system, resolved inside it (what a ``RUN`` capture leaves out of its layer).
    """

    container_id: str
    state: Path
    rootfs: Path
    runtime: Runtime
    spec: dict[str, Any]
    plan: LaunchPlan = field(default_factory=LaunchPlan)
    mount_destinations: tuple[str, ...] = ()
    record: ContainerRecord | None = None
    ran: bool = False

    @property
    def upper(self) -> Path:
        """The overlay's upper directory: every change the container made."""
        return self.state / "upper"

    @property
    def terminal(self) -> bool:
        return bool(self.spec["process"].get("terminal"))

    def run(
        self,
        stdin: Stdio = None,
        stdout: Stdio = None,
        stderr: Stdio = None,
        *,
        console_socket: Path | None = None,
        pid_file: Path | None = None,
        wait: Waiter | None = None,
    ) -> int:
        """Start the container and wait for it; its exit code.

        A container with a terminal needs the runtime's detached mode (``pid_file``),
        ``console_socket`` and a ``wait`` that takes the terminal (:meth:`run_attached`
        does all of it for a foreground container).
        """
        config = json.dumps(self.spec, indent=1).encode()
        plan = self.plan
        bundle = self.state
        if self.plan.private_dir is not None:
            # secrets (files or variables): config.json lives beside them, in the tmpfs
            config_file = PrivateFile("config.json", config, mode=0o600)
            plan = replace(plan, files=(config_file, *plan.files))
            bundle = self.plan.private_dir
        else:
            (self.state / "config.json").write_bytes(config)
        code = self.runtime.run(
            bundle,
            self.container_id,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            log=self.state / "runtime.log",
            plan=plan,
            console_socket=console_socket,
            pid_file=pid_file,
            wait=wait,
        )
        self.ran = True
        return code

    def run_attached(self, stdin: Stdio = None, stdout: Stdio = None, stderr: Stdio = None) -> int:
        """Run in the foreground; with a terminal, proxy it to ours (``stdin`` None: no -i)."""
        if not self.terminal:
            return self.run(stdin, stdout, stderr)
        in_fd = None if stdin is None else _fileno(stdin, 0)
        return attach_terminal(
            lambda socket, wait: self.run(
                subprocess.DEVNULL,
                subprocess.DEVNULL,
                stderr,
                console_socket=socket,
                pid_file=self.state / PID_FILE,
                wait=wait,
            ),
            self.state / PID_FILE,
            stdin=in_fd,
            stdout=_fileno(stdout, 1),
        )

    def finish(self, code: int, error: str | None = None) -> None:
        """Record how the container ended, for ``ps -a`` (its state is kept)."""
        if self.record is not None and not self.record.remove:
            write_exit(self.state, ExitRecord(code, error=error))


def _fileno(stream: Stdio, default: int) -> int:
    if stream is None:
        return default
    if isinstance(stream, int):
        if stream < 0:
            raise SandboxError("a container with a terminal needs real input and output files")
        return stream
    return stream.fileno()


def attach_terminal(
    start: Callable[[Path, Waiter], int], pid_file: Path, *, stdin: int | None, stdout: int
) -> int:
    """Start a runtime with a console socket and proxy the terminal it sends to ours.

    ``start(socket, wait)`` runs the runtime (``run`` or ``exec``) detached, with its pid
    file at ``pid_file``; ``stdin`` is None when the container must not read from us
    (``-t`` without ``-i``).
    """
    become_subreaper()
    console = ConsoleSocket()

    def serve(master: int, watch: int) -> None:
        proxy(master, watch, stdin=stdin, stdout=stdout)

    def size(master: int) -> None:
        set_window_size(master, our_size(stdout, *(() if stdin is None else (stdin,))))

    waiter = detached_waiter(pid_file, console=console, serve=serve, terminal=size)
    try:
        return start(console.path, waiter)
    finally:
        console.close()


def _write_etc_files(
    state: Path, hostname: str, network: str, *, build_step: bool = False
) -> dict[str, Path]:
    """Generated ``/etc/hosts``, ``/etc/hostname`` and ``/etc/resolv.conf`` in ``state``.

    A build step gets BuildKit's set: its ``/etc/hosts`` in every network mode (never the
    host's) and no ``/etc/hostname``.
    """
    etc = state / "etc"
    etc.mkdir(exist_ok=True)
    files = {"/etc/hostname": etc / "hostname", "/etc/hosts": etc / "hosts",
             "/etc/resolv.conf": etc / "resolv.conf"}  # fmt: skip
    files["/etc/hostname"].write_text(hostname + "\n", encoding="utf-8")
    if build_step:
        del files["/etc/hostname"]
        files["/etc/hosts"].write_text(build_hosts_file(hostname), encoding="utf-8")
        if network == "host":
            files["/etc/resolv.conf"].write_bytes(host_resolv_conf())
        else:
            resolv = resolv_conf() if network == "private" else ""
            files["/etc/resolv.conf"].write_text(resolv, encoding="utf-8")
    elif network == "host":
        for dest, host in (("/etc/hosts", "/etc/hosts"), ("/etc/resolv.conf", "/etc/resolv.conf")):
            try:
                data = Path(host).read_bytes()
            except OSError:
                data = hosts_file(hostname).encode() if dest == "/etc/hosts" else b""
            files[dest].write_bytes(data)
    elif network == "private":
        files["/etc/hosts"].write_text(hosts_file(hostname, CONTAINER_ADDRESS), encoding="utf-8")
        files["/etc/resolv.conf"].write_text(resolv_conf(), encoding="utf-8")
    else:
        files["/etc/hosts"].write_text(hosts_file(hostname), encoding="utf-8")
        files["/etc/resolv.conf"].write_text("", encoding="utf-8")
    for path in files.values():
        path.chmod(0o644)
    return files


def _nofile_limit() -> int:
    """Our own hard limit: raising it needs a privilege a nested sandbox may not have."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1048576 if hard == resource.RLIM_INFINITY else int(hard)


def mount_destination(rootfs: Path, destination: str) -> str:
    """Where a mount at ``destination`` lands, resolved inside the image's root.

    The image decides what its paths link to; resolving them here (rather than leaving
    it to the runtime) makes the mount land where the resolver says, lets a ``RUN``
    capture leave exactly that path out, and refuses a link that makes a volume
    replace the container's whole root.
    """
    try:
        rel = resolve_in_root(destination, host_readlink(rootfs))
    except SymlinkLoopError:
        raise SandboxError(
            f"too many symbolic links resolving the mount destination {destination!r}"
        ) from None
    if not rel:
        raise SandboxError(
            f"the mount destination {destination!r} resolves to the container's root "
            "in this image; mount somewhere else"
        )
    return "/" + rel


def check_executable(
    rootfs: Path,
    args: Sequence[str],
    env: Sequence[str],
    cwd: str,
    mounted: Sequence[str] = (),
) -> None:
    """Refuse, in one clear sentence, a command the runtime could not execute.

    The runtime would fail too, but with its own raw message and exit status 1; the
    lookup follows ``PATH`` as the runtime does, with names resolved inside the root.
    A candidate under one of the ``mounted`` destinations is left to the runtime: what is
    there comes from the host, not the image.
    """
    program = args[0]
    if "/" in program:
        candidates = [program if program.startswith("/") else posixpath.join(cwd, program)]
    else:
        path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
        candidates = [posixpath.join(d or ".", program) for d in path.split(":")]
        candidates = [c if c.startswith("/") else posixpath.join(cwd, c) for c in candidates]
    for candidate in candidates:
        host = secure_join(rootfs, candidate)
        rel = host.relative_to(rootfs).as_posix()
        inside = "/" if rel == "." else "/" + rel
        if any(inside == m or inside.startswith(m.rstrip("/") + "/") for m in mounted):
            return
        if host.is_file():
            if not os.stat(host).st_mode & 0o111:
                raise SandboxError(f"{program!r} in the image is not executable (mode lacks x)")
            if not _looks_executable(host):
                raise SandboxError(
                    f"{program!r} in the image is neither an ELF program nor a #! script "
                    "(exec format error)"
                )
            return
        if host.is_dir() and "/" in program:
            raise SandboxError(f"{program!r} in the image is a directory, not a program")
    raise SandboxError(f"{program!r} was not found in the image")


#: ELF object types the kernel executes (ET_EXEC, ET_DYN)
_ELF_TYPES = (2, 3)


def _looks_executable(host: Path) -> bool:
    """Whether the kernel's ELF or ``#!`` loader would take the file (header check only).

    Once the container's process has started, runc reports a failed ``exec`` only as
    the process's stderr and exit status 1, indistinguishable from a program's own
    failure; this catches the common case first.  A valid ELF of another architecture
    passes (binfmt_misc may run it).
    """
    try:
        with host.open("rb") as fh:
            head = fh.read(20)
    except OSError:
        return True  # let the runtime report it
    if head.startswith(b"#!"):
        return True
    if not head.startswith(b"\x7fELF") or len(head) < 20:
        return False
    if head[4] not in (1, 2) or head[5] not in (1, 2):  # class, byte order
        return False
    little = head[5] == 1
    e_type = int.from_bytes(head[16:18], "little" if little else "big")
    e_machine = int.from_bytes(head[18:20], "little" if little else "big")
    return e_type in _ELF_TYPES and e_machine != 0


def _create_state(
    state_root: Path, container_id: str, runtime: Runtime, *, keep: bool = False
) -> tuple[Path, Lease]:
    state = state_root / container_id
    if runtime.exists(container_id) or state.exists():
        raise SandboxError(
            f"a container named {container_id!r} already exists; choose another --name"
        )
    state_root.mkdir(parents=True, exist_ok=True)
    try:
        state.mkdir(mode=0o700)
    except FileExistsError:
        raise SandboxError(
            f"a container named {container_id!r} already exists; choose another --name"
        ) from None
    return state, Lease(state, runtime, keep=keep)


@contextlib.contextmanager
def sandbox(
    lowers_bottom_up: Sequence[Path],
    image: ContainerConfig,
    options: RunOptions,
    state_root: Path,
    runtime: Runtime,
    *,
    what: str = "the image",
    use_overlay: bool | None = None,
    image_ref: ImageRef | None = None,
    detached: bool = False,
) -> Iterator[Sandbox]:
    """Prepare a container over the given layer directories; tear it all down afterwards.

    With ``image_ref`` the container is one users see (``ps``): its state gets a
    ``container.json`` and, kept without ``remove``, an ``exit.json`` when it ends.
    """
    if not namespaces.namespaces_allowed():
        raise SandboxError(
            "this machine refuses new namespaces (an unprivileged container?), which "
            "containers need; builds run their RUN steps here with --isolation chroot"
        )
    args = process_args(image, options.entrypoint, options.args, what)
    cwd = process_cwd(options.workdir, image)
    hex_id = new_id()
    container_id = new_container_id(options.name, hex_id)
    if options.network == "private":
        find_slirp()
    init = find_tini() if options.init else None
    keep = image_ref is not None and not options.remove
    state, lease = _create_state(state_root, container_id, runtime, keep=keep)
    record = None
    box: Sandbox | None = None
    if image_ref is not None:
        record = ContainerRecord(
            id=hex_id, name=container_id, image=image_ref.name, image_digest=image_ref.digest,
            command=args, detached=detached, remove=options.remove, tty=options.tty,
            init=options.init, network=options.network, runtime=runtime.name,
            runtime_root=str(runtime.state_root) if runtime.state_root else None,
            stop_signal=image.stop_signal,
        )  # fmt: skip
        write_record(state, record)
    try:
        with container_rootfs(lowers_bottom_up, state, use_overlay=use_overlay) as rootfs:
            try:
                user = resolve_user_in(rootfs, options.user or image.user or "0")
                host_cwd = secure_join(rootfs, cwd)
                if not host_cwd.is_dir():
                    host_cwd.mkdir(parents=True, mode=0o755)
                if options.build_step:
                    hostname = options.hostname or BUILD_HOSTNAME
                elif options.network == "host":
                    hostname = socket.gethostname()
                else:
                    hostname = options.hostname or container_id.removeprefix("distroless-")[:12]
                env = process_env(
                    image.env,
                    {**options.env, **options.secret_env},
                    hostname=None if options.build_step else hostname,
                    home=user.home,
                    terminal=options.tty,
                )
                mounts: list[Mount] = []
                for mount in options.mounts:
                    if not mount.source.exists():
                        mount.source.mkdir(parents=True)  # as docker does for -v
                    dest = mount_destination(rootfs, mount.destination)
                    mounts.append(Mount(mount.source, dest, mount.readonly))
                plan = LaunchPlan(private_network=options.network == "private",
                                  slirp_log=state / "network.log")  # fmt: skip
                if options.secrets or options.secret_env:
                    private = state / "private"
                    private.mkdir(mode=0o700)
                    files = []
                    for index, secret in enumerate(options.secrets):
                        name = f"secret-{index}"
                        files.append(
                            PrivateFile(name, secret.data, secret.mode, secret.uid, secret.gid)
                        )
                        dest = mount_destination(rootfs, secret.destination)
                        mounts.append(Mount(private / name, dest, True))
                    plan = replace(plan, private_dir=private, files=tuple(files))
                check_executable(rootfs, args, env, cwd, [m.destination for m in mounts])
                spec = build_spec(
                    process=ProcessSpec(args, env, cwd, user),
                    rootfs=rootfs.resolve(),
                    hostname=hostname,
                    network=options.network,
                    container_id=container_id,
                    etc_files=_write_etc_files(
                        state, hostname, options.network, build_step=options.build_step
                    ),
                    mounts=mounts,
                    nofile=_nofile_limit(),
                    seccomp=seccomp_profile() if options.seccomp else None,
                    terminal=options.tty,
                    init=init,
                    rootless=userns.rootless(),
                )
                box = Sandbox(
                    container_id, state, rootfs, runtime, spec, plan,
                    tuple(m.destination for m in mounts), record,
                )  # fmt: skip
                yield box
            finally:
                runtime.delete(container_id)
    finally:
        try:
            # a container that never ran leaves nothing to inspect, with or without --rm
            if options.remove or box is None or not box.ran:
                _remove_state(state)
        finally:
            lease.release()


@dataclass(frozen=True)
class ImageRef:
    """The image a container runs, as ``ps`` shows it."""

    name: str
    digest: str


def _remove_state(state: Path) -> None:
    rootfs = state / "rootfs"
    if rootfs.exists() and is_mountpoint(rootfs):
        unmount(rootfs)
    shutil.rmtree(state, ignore_errors=True)


def containers_state_root(store_state_dir: Path) -> Path:
    return store_state_dir / "containers"


#: State directories (under the store's ``state/``) that hold containers' state.
STATE_KINDS = ("containers", "build")


def reap_orphans(store_root: Path) -> list[str]:
    """Reap containers whose ``distroless`` process was killed (see :mod:`.leases`)."""
    return reap(store_root / "state" / kind for kind in STATE_KINDS)


def leftovers(state_root: Path) -> list[str]:
    """Containers whose state is still on disk (kept without ``--rm`` or interrupted)."""
    if not state_root.is_dir():
        return []
    return sorted(p.name for p in state_root.iterdir() if p.is_dir())


def clean_leftovers(state_root: Path, runtime: Runtime) -> list[str]:
    """Remove every container state under ``state_root``; returns the ids removed."""
    removed = []
    for container_id in leftovers(state_root):
        runtime.delete(container_id)
        _remove_state(state_root / container_id)
        removed.append(container_id)
    return removed


def run_image(
    store: Any,
    image_name: str,
    options: RunOptions,
    *,
    stdin: Stdio = None,
    stdout: Stdio = None,
    stderr: Stdio = None,
    platform: Platform | None = None,
    reporter: Reporter = _NULL_REPORTER,
) -> int:
    """Run ``image_name`` from ``store`` (a :class:`distroless.store.Store`); its exit code.

    Layers are unpacked into the store's layer cache on first use; the container's state
    lives under ``state/containers/<id>`` and is removed afterwards when ``options.remove``.
    With ``options.tty`` the container gets a terminal proxied to ours; ``stdin`` None
    then means it reads nothing from us (``-t`` without ``-i``).
    """
    image, lowers, runtime = prepare_image(store, image_name, options, platform, reporter)
    config: ContainerConfig = image.config.config
    state_root = store.state_dir("containers")
    ref = ImageRef(image_name, image.descriptor.digest)
    with sandbox(
        lowers, config, options, state_root, runtime, what=f"image {image_name}", image_ref=ref
    ) as box:
        reporter.event("container-start", id=box.container_id, image=image_name)
        code = box.run_attached(stdin, stdout, stderr)
        box.finish(code)
        reporter.event("container-exit", id=box.container_id, code=code)
    return code


def prepare_image(
    store: Any,
    image_name: str,
    options: RunOptions,
    platform: Platform | None = None,
    reporter: Reporter = _NULL_REPORTER,
) -> tuple[Any, list[Path], Runtime]:
    """The image, its unpacked layers (bottom-up) and the runtime, orphans reaped first."""
    image = store.load_image(image_name, platform)
    config: ContainerConfig = image.config.config
    process_args(config, options.entrypoint, options.args, f"image {image_name}")
    try:
        check_runnable(image.config.platform)
    except SandboxError as exc:
        raise SandboxError(f"image {image_name}: {exc.message}") from None
    runtime = Runtime.find(options.runtime)
    reap_orphans(store.root)
    cache = LayerCache(store.state_dir("layers"))
    with store.session():  # a concurrent prune must not take the blobs being unpacked
        lowers = cache.ensure_all([d.digest for d in image.layers], store, reporter)
    return image, lowers, runtime


def run_detached(
    store: Any,
    image_name: str,
    options: RunOptions,
    *,
    interactive: bool = False,
    platform: Platform | None = None,
    reporter: Reporter = _NULL_REPORTER,
) -> str:
    """Start ``image_name`` in the background (``run -d``); the container's id.

    Its supervisor (:mod:`distroless.runtime.supervisor`) owns it from then on; the
    layers are unpacked here first, so progress shows and errors come before it starts.
    """
    from distroless.runtime.supervisor import start_detached

    image, _, _ = prepare_image(store, image_name, options, platform, reporter)
    return start_detached(
        store.root, image_name, image.descriptor.digest, options,
        platform=platform, interactive=interactive,
    )  # fmt: skip
