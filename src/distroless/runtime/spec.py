"""The OCI runtime ``config.json`` for one container, generated purely from values.

The defaults follow docker's so that an image behaves under ``distroless run`` as under
``docker run``: the same masked and read-only paths, kernel mounts and namespaces, and
docker's capabilities less ``CAP_NET_RAW`` (raw and packet sockets are how a container
sniffs traffic or forges packets; podman drops it too).  Every container runs with
``noNewPrivileges`` and, unless the caller opts out, the seccomp allow-list of
:mod:`distroless.runtime.seccomp`.  Nothing here touches the file system;
:mod:`distroless.runtime.container` gathers the inputs (resolved user, generated ``/etc``
files) and writes the result.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distroless.errors import SandboxError
from distroless.oci.models import DEFAULT_PATH, ContainerConfig
from distroless.runtime.options import Mount, Network
from distroless.runtime.users import ResolvedUser

OCI_VERSION = "1.0.2"
DEFAULT_NOFILE = 1048576

DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)  # fmt: skip

MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)

READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

#: Mount points the runtime creates in the root filesystem; a captured layer leaves them out.
#: Where ``--init`` puts the init program: in the container's ``/dev`` (a tmpfs of its own).
INIT_PATH = "/dev/init"

RUNTIME_MOUNTPOINTS: tuple[str, ...] = (
    "proc",
    "dev",
    "sys",
    "etc/hosts",
    "etc/hostname",
    "etc/resolv.conf",
)

#: The kernel file systems' mount points among them.  A root without them gets them from
#: the runtime as empty 0755 directories, and BuildKit's layer keeps those: unlike the
#: ``/etc`` files, they are not stubs its cleaner removes.
KERNEL_MOUNTPOINTS: frozenset[str] = frozenset({"proc", "dev", "sys"})


@dataclass(frozen=True)
class ProcessSpec:
    """The container's first process, after every override has been applied."""

    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: ResolvedUser


def process_args(
    image: ContainerConfig,
    entrypoint: Sequence[str] | None,
    args: Sequence[str],
    what: str = "the image",
) -> tuple[str, ...]:
    """Docker's rule: an overridden entrypoint drops the image's ``Cmd``; args replace it."""
    if entrypoint is not None:
        entry = tuple(entrypoint)
        cmd: tuple[str, ...] = tuple(args)
    else:
        entry = tuple(image.entrypoint or ())
        cmd = tuple(args) if args else tuple(image.cmd or ())
    full = entry + cmd
    if not full:
        raise SandboxError(
            f"{what} has no entrypoint and no command; pass a command after the image name"
        )
    return full


def process_env(
    image_env: Sequence[str],
    overrides: Mapping[str, str],
    *,
    hostname: str | None,
    home: str,
    terminal: bool = False,
) -> tuple[str, ...]:
    """Image env, then ``-e`` overrides in place; ``PATH``, ``HOSTNAME``, ``HOME`` if missing.

    With a terminal, ``TERM=xterm`` unless set, as docker does.  ``hostname`` None sets
    no ``HOSTNAME`` (a build step: BuildKit exports none).
    """
    merged: dict[str, str] = {}
    for item in image_env:
        key, _, value = item.partition("=")
        if key:
            merged[key] = value
    merged.update(overrides)
    out: dict[str, str] = {}
    if "PATH" not in merged:
        out["PATH"] = DEFAULT_PATH
    if hostname is not None:
        out["HOSTNAME"] = hostname
    out.update(merged)
    out.setdefault("HOME", home or "/")
    if terminal:
        out.setdefault("TERM", "xterm")
    return tuple(f"{k}={v}" for k, v in out.items())


def process_cwd(workdir: str | None, image: ContainerConfig) -> str:
    cwd = workdir or image.working_dir or "/"
    if not cwd.startswith("/"):
        raise SandboxError(f"working directory {cwd!r} must be an absolute path")
    return posixpath.normpath(cwd)


def _kernel_mounts() -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ]  # fmt: skip


def _bind(source: Path | str, destination: str, readonly: bool) -> dict[str, Any]:
    options = ["rbind", "rprivate"]
    if readonly:
        options.append("ro")
    return {"destination": destination, "type": "bind", "source": str(source), "options": options}


def build_spec(
    *,
    process: ProcessSpec,
    rootfs: Path,
    hostname: str,
    network: Network,
    container_id: str,
    etc_files: Mapping[str, Path],
    mounts: Sequence[Mount] = (),
    nofile: int = DEFAULT_NOFILE,
    seccomp: Mapping[str, Any] | None = None,
    terminal: bool = False,
    init: Path | None = None,
    rootless: bool = False,
) -> dict[str, Any]:
    """The complete ``config.json`` document.

    ``etc_files`` maps container paths (``/etc/hosts`` …) to generated host files that are
    bind-mounted read-only, so the image's own copies are never modified.  ``network``
    ``"none"`` is a new, empty namespace; ``"private"`` (the launcher's namespace, which
    the runtime runs in) and ``"host"`` are the runtime's own, so no entry is written.
    ``terminal`` asks the runtime for a pseudo-terminal (it sends the master over its
    console socket).  ``init`` is a host init program (a static ``tini``) bind-mounted
    read-only at :data:`INIT_PATH`, inside the container's own ``/dev`` tmpfs, so
    nothing of it lands in the image or its writable layer; it runs as the container's
    first process, with the same filter and capabilities as what it starts.

    ``rootless`` (the runtime runs as root of a user namespace, :mod:`.userns`) names no
    cgroup: the user may not create one, and runc then skips the cgroup only when none was
    asked for.  The host network's ``/sys`` belongs to the host's user namespace, which may
    not mount a new one, so it is bound read-only from the host instead, as rootless
    podman does.
    """
    caps = list(DEFAULT_CAPABILITIES)
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if network == "none":
        namespaces.append({"type": "network"})
    all_mounts = _kernel_mounts()
    if rootless and network == "host":
        all_mounts = [
            {**_bind("/sys", "/sys", True), "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
            if m["destination"] == "/sys"
            else m
            for m in all_mounts
        ]
    all_mounts += [_bind(src, dst, True) for dst, src in sorted(etc_files.items())]
    all_mounts += [_bind(m.source, m.destination, m.readonly) for m in mounts]
    args = list(process.args)
    if init is not None:
        init_mount = _bind(init, INIT_PATH, True)
        init_mount["options"] += ["nosuid", "nodev"]
        all_mounts.append(init_mount)
        args = [INIT_PATH, "--", *args]
    linux: dict[str, Any] = {
        "cgroupsPath": f"/distroless/{container_id}",
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": namespaces,
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
    }
    if rootless:
        del linux["cgroupsPath"], linux["resources"]
    if seccomp is not None:
        linux["seccomp"] = dict(seccomp)
    user: dict[str, Any] = {"uid": process.user.uid, "gid": process.user.gid}
    if process.user.additional_gids:
        user["additionalGids"] = list(process.user.additional_gids)
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": terminal,
            "user": user,
            "args": args,
            "env": list(process.env),
            "cwd": process.cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs), "readonly": False},
        "hostname": hostname,
        "mounts": all_mounts,
        "linux": linux,
    }


def build_hosts_file(hostname: str) -> str:
    """``/etc/hosts`` as BuildKit writes it for a step: the name on the loopback line."""
    return f"127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def hosts_file(hostname: str, address: str = "127.0.1.1") -> str:
    """A minimal ``/etc/hosts`` naming the container, for a private network namespace."""
    return (
        f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{address}\t{hostname}\n"
    )
