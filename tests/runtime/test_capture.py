from __future__ import annotations

import os
from pathlib import Path

from distroless.layers.entry import EntryType
from distroless.runtime.capture import upper_entries
from distroless.runtime.spec import KERNEL_MOUNTPOINTS, RUNTIME_MOUNTPOINTS
from distroless.runtime.unpack import OPAQUE_XATTR
from tests.helpers.require import require_root


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    lower = tmp_path / "lower"
    upper = tmp_path / "upper"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root")
    (lower / "etc").chmod(0o755)
    upper.mkdir()
    return lower, upper


def test_upper_dir_becomes_oci_entries(tmp_path: Path) -> None:
    require_root()
    lower, upper = _tree(tmp_path)
    (upper / "app").mkdir()
    (upper / "app" / "bin").write_bytes(b"code")
    (upper / "app" / "bin").chmod(0o755)
    os.link(upper / "app" / "bin", upper / "app" / "bin2")
    (upper / "app" / "link").symlink_to("bin")
    os.mknod(upper / "gone", 0o020000, os.makedev(0, 0))
    (upper / "cache").mkdir()
    os.setxattr(upper / "cache", OPAQUE_XATTR, b"y")
    os.setxattr(upper / "app" / "bin", "user.note", b"kept")
    entries = {e.path: e for e in upper_entries(upper, [lower], set(RUNTIME_MOUNTPOINTS))}
    assert sorted(entries) == [
        ".wh.gone", "app", "app/bin", "app/bin2", "app/link", "cache", "cache/.wh..wh..opq",
    ]  # fmt: skip
    assert entries["app/bin"].type is EntryType.FILE
    assert entries["app/bin"].mode == 0o755
    assert entries["app/bin"].open().read() == b"code"
    assert entries["app/bin"].xattrs == {"user.note": "kept"}
    assert entries["app/bin2"].type is EntryType.HARDLINK
    assert entries["app/bin2"].linkname == "app/bin"
    assert entries["app/link"].linkname == "bin"


def test_runtime_mount_points_are_left_out(tmp_path: Path) -> None:
    lower, upper = _tree(tmp_path)
    for d in ("proc", "sys", "dev/shm"):
        (upper / d).mkdir(parents=True)
    (upper / "etc").mkdir()
    (upper / "etc").chmod(0o755)
    for f in ("hosts", "hostname", "resolv.conf"):
        (upper / "etc" / f).write_text("")
    assert upper_entries(upper, [lower], set(RUNTIME_MOUNTPOINTS)) == []


def test_a_changed_etc_is_kept(tmp_path: Path) -> None:
    lower, upper = _tree(tmp_path)
    (upper / "etc").mkdir()
    (upper / "etc").chmod(0o700)
    (upper / "etc" / "hosts").write_text("")
    paths = [e.path for e in upper_entries(upper, [lower], set(RUNTIME_MOUNTPOINTS))]
    assert paths == ["etc"]
    (upper / "etc").chmod(0o755)
    (upper / "etc" / "app.conf").write_text("x")
    paths = [e.path for e in upper_entries(upper, [lower], set(RUNTIME_MOUNTPOINTS))]
    assert paths == ["etc", "etc/app.conf"]


def test_directories_made_only_for_a_step_mount_are_left_out(tmp_path: Path) -> None:
    lower, upper = _tree(tmp_path)
    (upper / "run" / "secrets").mkdir(parents=True)
    (upper / "run" / "secrets" / "token").write_text("")  # the mount point itself
    excluded = {*RUNTIME_MOUNTPOINTS, "run/secrets/token"}
    holders = {"run", "run/secrets"}
    assert upper_entries(upper, [lower], excluded, holders) == []
    # something the step wrote beside the mount point keeps its directories
    (upper / "run" / "app.pid").write_text("1")
    paths = [e.path for e in upper_entries(upper, [lower], excluded, holders)]
    assert paths == ["run", "run/app.pid"]
    # without the hint the directories stay (what the step changed is all that is known)
    (upper / "run" / "app.pid").unlink()
    paths = [e.path for e in upper_entries(upper, [lower], excluded)]
    assert paths == ["run", "run/secrets"]


def test_kernel_mount_points_are_kept_only_where_no_lower_has_them(tmp_path: Path) -> None:
    require_root()
    lower, upper = _tree(tmp_path)
    for d in ("proc", "sys", "dev/shm"):
        (upper / d).mkdir(parents=True)
    (lower / "proc").mkdir()
    os.mknod(lower / "sys", 0o020000, os.makedev(0, 0))  # deleted in the lower: a new /sys
    excluded = set(RUNTIME_MOUNTPOINTS)
    entries = upper_entries(upper, [lower], excluded, stubs=KERNEL_MOUNTPOINTS)
    assert [(e.path, e.type) for e in entries] == [("dev", EntryType.DIR), ("sys", EntryType.DIR)]
