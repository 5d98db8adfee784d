from __future__ import annotations

import os
from pathlib import Path

import pytest

from distroless.errors import SandboxError, UsageError
from distroless.runtime.container import new_container_id, secure_join
from distroless.runtime.runc import Runtime, hybrid_cgroups, unified_mount


def test_secure_join_keeps_symlinks_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "abs").symlink_to("/real")
    (root / "up").symlink_to("../../../..")
    assert secure_join(root, "/abs/x") == root / "real" / "x"
    assert secure_join(root, "/up/etc") == root / "etc"
    assert secure_join(root, "/../../a/./b") == root / "a" / "b"


def test_secure_join_refuses_symlink_loops(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(SandboxError, match="too many symbolic links"):
        secure_join(tmp_path, "/loop/x")


def test_container_names() -> None:
    assert new_container_id(None).startswith("distroless-")
    assert new_container_id("web.1") == "web.1"
    with pytest.raises(UsageError, match="invalid container name"):
        new_container_id("../x")


def test_missing_runtime_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxError, match="install the Debian package runc"):
        Runtime.find("runc")


def test_not_root_is_a_sandbox_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxError, match="needs root"):
        Runtime.find("runc")


def test_unknown_runtime() -> None:
    with pytest.raises(SandboxError, match="unsupported runtime"):
        Runtime.find("kata")


def test_hybrid_cgroup_detection(tmp_path: Path) -> None:
    v1 = "30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    v2 = "31 25 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    info = tmp_path / "mountinfo"
    info.write_text(v1 + v2)
    assert hybrid_cgroups(info)
    info.write_text(v2)
    assert not hybrid_cgroups(info)
    info.write_text(v1)
    assert not hybrid_cgroups(info)
    assert unified_mount(info) is None
    info.write_text(v1 + v2)
    assert unified_mount(info) == Path("/sys/fs/cgroup/unified")
