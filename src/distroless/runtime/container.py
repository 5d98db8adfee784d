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
import re
import resource
import shutil
import socket
import stat
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from distroless.errors import SandboxError, UsageError
from distroless.oci.models import ContainerConfig, Platform
from distroless.reporter import NullReporter, Reporter
from distroless.runtime.options import RunOptions
from distroless.runtime.rootfs import LayerCache, container_rootfs, is_mountpoint, unmount
from distroless.runtime.runc import Runtime
from distroless.runtime.spec import (
    ProcessSpec,
    build_spec,
    hosts_file,
    process_args,
    process_cwd,
    process_env,
)
from distroless.runtime.users import resolve_user_in

_NULL_REPORTER = NullReporter()

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_MAX_SYMLINKS = 40
Stdio = IO[bytes] | int | None


def new_container_id(name: str | None) -> str:
    if name is None:
        return "distroless-" + uuid.uuid4().hex[:12]
    if not _NAME_RE.match(name):
        raise UsageError(f"invalid container name {name!r}: use letters, digits, '_', '.' and '-'")
    return name


def secure_join(root: Path, path: str) -> Path:
    """``path`` inside ``root`` with symlinks resolved as the container would see them.

    Absolute link targets and ``..`` are interpreted relative to ``root``, so the host
    path returned can never lie outside it (the missing tail is appended unresolved).
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > _MAX_SYMLINKS:
                raise SandboxError(f"too many symbolic links resolving {path!r} in the image")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


@dataclass
class Sandbox:
    """A prepared container: call :meth:`run` inside the ``with`` of :func:`sandbox`."""

    container_id: str
    state: Path
    rootfs: Path
    runtime: Runtime
    spec: dict[str, Any]

    @property
    def upper(self) -> Path:
        """The overlay's upper directory: every change the container made."""
        return self.state / "upper"

    def set_args(self, args: Sequence[str]) -> None:
        """Run another command in the same root file system (setup, test, teardown)."""
        self.spec["process"]["args"] = list(args)
        (self.state / "config.json").write_text(json.dumps(self.spec, indent=1), encoding="utf-8")

    def run(self, stdin: Stdio = None, stdout: Stdio = None, stderr: Stdio = None) -> int:
        return self.runtime.run(
            self.state, self.container_id, stdin=stdin, stdout=stdout, stderr=stderr
        )


def _write_etc_files(state: Path, hostname: str, network: str) -> dict[str, Path]:
    """Generated ``/etc/hosts``, ``/etc/hostname`` and ``/etc/resolv.conf`` in ``state``."""
    etc = state / "etc"
    etc.mkdir(exist_ok=True)
    files = {"/etc/hostname": etc / "hostname", "/etc/hosts": etc / "hosts",
             "/etc/resolv.conf": etc / "resolv.conf"}  # fmt: skip
    files["/etc/hostname"].write_text(hostname + "\n", encoding="utf-8")
    if network == "host":
        for dest, host in (("/etc/hosts", "/etc/hosts"), ("/etc/resolv.conf", "/etc/resolv.conf")):
            try:
                data = Path(host).read_bytes()
            except OSError:
                data = hosts_file(hostname).encode() if dest == "/etc/hosts" else b""
            files[dest].write_bytes(data)
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
) -> Iterator[Sandbox]:
    """Prepare a container over the given layer directories; tear it all down afterwards."""
    args = process_args(image, options.entrypoint, options.args, what)
    cwd = process_cwd(options.workdir, image)
    container_id = new_container_id(options.name)
    state = state_root / container_id
    if runtime.exists(container_id) or state.exists():
        raise SandboxError(
            f"a container named {container_id!r} already exists; choose another --name"
        )
    state_root.mkdir(parents=True, exist_ok=True)
    state.mkdir(mode=0o700)
    try:
        with container_rootfs(lowers_bottom_up, state, use_overlay=use_overlay) as rootfs:
            try:
                user = resolve_user_in(rootfs, options.user or image.user or "0")
                host_cwd = secure_join(rootfs, cwd)
                if not host_cwd.is_dir():
                    host_cwd.mkdir(parents=True, mode=0o755)
                if options.network == "host":
                    hostname = socket.gethostname()
                else:
                    hostname = options.hostname or container_id.removeprefix("distroless-")[:12]
                env = process_env(image.env, options.env, hostname=hostname, home=user.home)
                for mount in options.mounts:
                    if not mount.source.exists():
                        mount.source.mkdir(parents=True)  # as docker does for -v
                spec = build_spec(
                    process=ProcessSpec(args, env, cwd, user),
                    rootfs=rootfs.resolve(),
                    hostname=hostname,
                    network=options.network,
                    container_id=container_id,
                    etc_files=_write_etc_files(state, hostname, options.network),
                    mounts=options.mounts,
                    nofile=_nofile_limit(),
                )
                (state / "config.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
                yield Sandbox(container_id, state, rootfs, runtime, spec)
            finally:
                runtime.delete(container_id)
    finally:
        if options.remove:
            _remove_state(state)


def _remove_state(state: Path) -> None:
    rootfs = state / "rootfs"
    if rootfs.exists() and is_mountpoint(rootfs):
        unmount(rootfs)
    shutil.rmtree(state, ignore_errors=True)


def containers_state_root(store_state_dir: Path) -> Path:
    return store_state_dir / "containers"


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
    """
    image = store.load_image(image_name, platform)
    config: ContainerConfig = image.config.config
    process_args(config, options.entrypoint, options.args, f"image {image_name}")
    runtime = Runtime.find(options.runtime)
    cache = LayerCache(store.state_dir("layers"))
    with store.session():  # a concurrent prune must not take the blobs being unpacked
        lowers = cache.ensure_all([d.digest for d in image.layers], store, reporter)
    state_root = store.state_dir("containers")
    with sandbox(lowers, config, options, state_root, runtime, what=f"image {image_name}") as box:
        reporter.event("container-start", id=box.container_id, image=image_name)
        code = box.run(stdin, stdout, stderr)
        reporter.event("container-exit", id=box.container_id, code=code)
    return code
