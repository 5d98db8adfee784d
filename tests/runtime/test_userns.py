from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from distroless.runtime import runc, userns
from distroless.runtime.userns import IdRange, reexec_argv, subordinate_range


def test_the_first_block_of_the_user_by_name_or_id(tmp_path: Path) -> None:
    sub = tmp_path / "subuid"
    sub.write_text(
        "other:100000:65536\nbad line\nalice:x:1\nalice:0:10\n"
        "1001:300000:70000\nalice:400000:65536\n"
    )
    assert subordinate_range(sub, "alice", 1001) == IdRange(300000, 70000)
    assert subordinate_range(sub, "alice", 1002) == IdRange(400000, 65536)
    assert subordinate_range(sub, "bob", 1003) is None
    assert subordinate_range(tmp_path / "missing", "alice", 1001) is None


def test_reexec_maps_the_user_to_root_and_at_most_65535_ids_above(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub, gid = tmp_path / "subuid", tmp_path / "subgid"
    sub.write_text("alice:300000:1000000\n")
    gid.write_text("alice:500000:65536\n")
    monkeypatch.setattr(userns, "SUBUID", sub)
    monkeypatch.setattr(userns, "SUBGID", gid)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(userns, "_sysctl", lambda name: None)
    argv = reexec_argv(["prog", "a"], "alice", 1001, 1001)
    assert argv is not None
    assert argv[:3] == ["unshare", "--user", "--map-root-user"]
    assert "--map-users=300000,1,65535" in argv and "--map-groups=500000,1,65535" in argv
    assert argv[argv.index("--") + 1 :] == ["prog", "a"]
    gid.write_text("bob:500000:65536\n")
    assert reexec_argv(["prog"], "alice", 1001, 1001) is None
    assert userns.missing_setup("alice", 1001, 1001) == (
        f"{gid} gives alice no subordinate ids (add a line alice:START:65536)"
    )


def test_a_rootless_runtime_keeps_its_state_in_the_users_runtime_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(userns.MARK, raising=False)
    assert userns.runtime_state_root() is None  # root: runc's own default
    monkeypatch.setenv(userns.MARK, "1001")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert userns.runtime_state_root() == tmp_path / "distroless" / "runc"
    if shutil.which("runc") is not None and os.geteuid() == 0:
        assert runc.Runtime.find("runc").state_root == tmp_path / "distroless" / "runc"


def test_overlay_markers_follow_the_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from distroless.runtime.unpack import opaque_xattr

    monkeypatch.delenv(userns.MARK, raising=False)
    assert opaque_xattr() == "trusted.overlay.opaque"
    monkeypatch.setenv(userns.MARK, "1001")
    assert opaque_xattr() == "user.overlay.opaque"


def test_a_kernel_that_refuses_user_namespaces_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"user.max_user_namespaces": "0"}
    monkeypatch.setattr(userns, "_sysctl", values.get)
    assert userns.missing_setup("alice", 1001, 1001) == (
        "the kernel refuses user namespaces to users (sysctl user.max_user_namespaces = 0)"
    )
