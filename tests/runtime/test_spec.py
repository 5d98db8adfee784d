from __future__ import annotations

from pathlib import Path

import pytest

from distroless.errors import SandboxError
from distroless.oci.models import DEFAULT_PATH, ContainerConfig
from distroless.runtime.options import Mount
from distroless.runtime.spec import (
    DEFAULT_CAPABILITIES,
    ProcessSpec,
    build_spec,
    process_args,
    process_cwd,
    process_env,
)
from distroless.runtime.users import ResolvedUser

IMAGE = ContainerConfig(entrypoint=("/app", "--serve"), cmd=("--port", "80"))


def test_args_are_entrypoint_plus_cmd() -> None:
    assert process_args(IMAGE, None, ()) == ("/app", "--serve", "--port", "80")


def test_args_replace_cmd_only() -> None:
    assert process_args(IMAGE, None, ("-v",)) == ("/app", "--serve", "-v")


def test_entrypoint_override_drops_image_cmd() -> None:
    assert process_args(IMAGE, ("/other",), ()) == ("/other",)
    assert process_args(IMAGE, ("/other",), ("x",)) == ("/other", "x")


def test_empty_entrypoint_override_runs_args() -> None:
    assert process_args(IMAGE, (), ("/bin/x",)) == ("/bin/x",)


def test_nothing_to_run_is_an_error() -> None:
    with pytest.raises(SandboxError, match="no entrypoint and no command"):
        process_args(ContainerConfig(), None, ())
    with pytest.raises(SandboxError):
        process_args(IMAGE, (), ())


def test_env_defaults_and_overrides_keep_order() -> None:
    env = process_env(["A=1", "B=2"], {"B": "3", "C": "4"}, hostname="h", home="/root")
    assert env == ("PATH=" + DEFAULT_PATH, "HOSTNAME=h", "A=1", "B=3", "C=4", "HOME=/root")


def test_env_keeps_image_path_and_home() -> None:
    env = process_env(["PATH=/x", "HOME=/data"], {}, hostname="h", home="/root")
    assert env == ("HOSTNAME=h", "PATH=/x", "HOME=/data")


def test_cwd() -> None:
    assert process_cwd(None, ContainerConfig()) == "/"
    assert process_cwd(None, ContainerConfig(working_dir="/srv/")) == "/srv"
    assert process_cwd("/tmp", ContainerConfig(working_dir="/srv")) == "/tmp"
    with pytest.raises(SandboxError, match="absolute"):
        process_cwd("rel", ContainerConfig())


def _spec(network: str = "none", *, rootless: bool = False) -> dict[str, object]:
    process = ProcessSpec(("/app",), ("PATH=/bin",), "/", ResolvedUser(65532, 65532, (50,)))
    return build_spec(
        process=process,
        rootfs=Path("/state/rootfs"),
        hostname="box",
        network=network,  # type: ignore[arg-type]
        container_id="c1",
        etc_files={"/etc/hosts": Path("/state/etc/hosts")},
        mounts=(Mount(Path("/data"), "/data", True), Mount(Path("/rw"), "/rw")),
        nofile=1024,
        rootless=rootless,
    )


def test_spec_process() -> None:
    spec = _spec()
    process = spec["process"]
    assert isinstance(process, dict)
    assert process["user"] == {"uid": 65532, "gid": 65532, "additionalGids": [50]}
    assert process["terminal"] is False
    assert process["noNewPrivileges"] is True
    caps = process["capabilities"]
    assert caps["bounding"] == caps["effective"] == caps["permitted"] == list(DEFAULT_CAPABILITIES)
    assert "CAP_SYS_ADMIN" not in caps["bounding"]
    assert len(DEFAULT_CAPABILITIES) == 13
    assert "CAP_NET_RAW" not in caps["bounding"]
    assert process["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]


def test_spec_mounts_and_namespaces() -> None:
    spec = _spec()
    mounts = {m["destination"]: m for m in spec["mounts"]}  # type: ignore[attr-defined]
    for dest in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"):
        assert dest in mounts
    assert "ro" in mounts["/sys"]["options"]
    assert mounts["/etc/hosts"]["source"] == "/state/etc/hosts"
    assert "ro" in mounts["/etc/hosts"]["options"]
    assert "ro" in mounts["/data"]["options"]
    assert "ro" not in mounts["/rw"]["options"]
    linux = spec["linux"]
    assert isinstance(linux, dict)
    kinds = [n["type"] for n in linux["namespaces"]]
    assert sorted(kinds) == ["ipc", "mount", "network", "pid", "uts"]
    assert "/proc/kcore" in linux["maskedPaths"]
    assert "/proc/sys" in linux["readonlyPaths"]
    assert linux["cgroupsPath"] == "/distroless/c1"
    assert spec["hostname"] == "box"
    assert spec["root"] == {"path": "/state/rootfs", "readonly": False}


def test_host_network_has_no_network_namespace() -> None:
    linux = _spec("host")["linux"]
    assert isinstance(linux, dict)
    assert "network" not in [n["type"] for n in linux["namespaces"]]


def test_rootless_spec_names_no_cgroup_and_binds_the_hosts_sys_for_the_host_network() -> None:
    root = _spec("host")
    assert "cgroupsPath" in root["linux"] and "resources" in root["linux"]  # type: ignore[operator]
    for network in ("none", "private", "host"):
        spec = _spec(network, rootless=True)
        linux = spec["linux"]
        assert isinstance(linux, dict)
        assert "cgroupsPath" not in linux and "resources" not in linux
        mounts = spec["mounts"]
        assert isinstance(mounts, list)
        sys_mount = next(m for m in mounts if m["destination"] == "/sys")
        if network == "host":
            assert sys_mount["type"] == "bind" and sys_mount["source"] == "/sys"
            assert "ro" in sys_mount["options"]
        else:
            assert sys_mount["type"] == "sysfs"
