"""The store is private to its owner: 0700 at the top, checked whenever a store is opened."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from tests.helpers.cli import run_cli
from tests.helpers.require import require_root
from tests.store.test_store import _image

from distroless.errors import StoreError
from distroless.store import Store

NOBODY = 65534


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_store_and_its_state_directories_are_private(tmp_path: Path) -> None:
    old = os.umask(0o000)  # the most generous umask: the store must not depend on it
    try:
        store = Store(tmp_path / "a" / "store")
        layers = store.state_dir("layers", "x")
    finally:
        os.umask(old)
    assert _mode(store.root) == 0o700
    for path in (store.blobs, store.tmp, store.root / "state", layers):
        assert _mode(path) == 0o700, path


def test_an_existing_open_store_is_tightened_when_opened(tmp_path: Path) -> None:
    root = tmp_path / "store"
    Store(root)
    os.chmod(root, 0o755)  # as older versions created it
    Store(root)
    assert _mode(root) == 0o700
    os.chmod(root, 0o777)
    assert run_cli("images", root=root).exit_code == 0
    assert _mode(root) == 0o700


def test_an_open_directory_that_is_not_a_store_is_refused_not_tightened(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "someone-else").write_bytes(b"x")
    os.chmod(shared, 0o1777)  # as /tmp is
    with pytest.raises(
        StoreError, match=r"is not a store and other users can enter it \(mode 1777\)"
    ):
        Store(shared)
    assert _mode(shared) == 0o1777
    assert os.listdir(shared) == ["someone-else"]
    for name, left in (("empty", []), ("cut-short", ["blobs", "tmp"])):
        partial = tmp_path / name
        partial.mkdir(mode=0o755)
        for directory in left:
            (partial / directory).mkdir()
        Store(partial)
        assert _mode(partial) == 0o700


def test_a_store_of_another_user_is_refused(tmp_path: Path) -> None:
    require_root()
    root = tmp_path / "store"
    Store(root)
    before = sorted(os.listdir(root)), (root / "index.json").read_bytes()
    os.chown(root, NOBODY, NOBODY)
    try:
        with pytest.raises(StoreError, match=f"belongs to uid {NOBODY}, not to uid 0"):
            Store(root)
        result = run_cli("images", root=root)
        assert result.exit_code == StoreError.exit_code
        assert result.stderr.count("\n") == 1 and "--root" in result.stderr
        assert (sorted(os.listdir(root)), (root / "index.json").read_bytes()) == before
        assert _mode(root) == 0o700
    finally:
        os.chown(root, 0, 0)


def _probe_as_nobody(base: Path, names: list[str]) -> dict[str, str]:
    """What user ``nobody`` can do with each of ``names`` (relative to ``base``).

    The child holds a descriptor of ``base`` opened before it drops root, so only the
    permissions from ``base`` down decide, not those of the directories above the test's
    temporary directory; ``base`` itself is made searchable.
    """
    os.chmod(base, 0o711)
    base_fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            seen: dict[str, str] = {}
            for name in names:
                try:
                    os.stat(name, dir_fd=base_fd, follow_symlinks=False)
                    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK, dir_fd=base_fd)
                    os.close(fd)
                    seen[name] = "opened"
                except PermissionError:
                    seen[name] = "denied"
                except OSError as exc:
                    seen[name] = f"error {exc.errno}"
            os.write(write_end, json.dumps(seen).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    os.close(base_fd)
    with os.fdopen(read_end, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    result: dict[str, str] = json.loads(data)
    return result


def test_nothing_under_the_store_is_reachable_by_another_user(tmp_path: Path) -> None:
    require_root()
    old = os.umask(0o022)
    try:
        store = Store(tmp_path / "store")
        store.tag("app:1", _image(store, payload=b"layer"))
        # what the unpacked-layer cache holds: a set-uid root binary (a decoy)
        unpacked = store.state_dir("layers", "sha256-decoy") / "usr" / "bin"
        unpacked.mkdir(parents=True)
        (unpacked / "su").write_bytes(b"decoy")
        os.chmod(unpacked / "su", 0o4755)
        store.state_dir("containers", "c1")
    finally:
        os.umask(old)
    names = [
        os.path.relpath(os.path.join(dirpath, name), tmp_path)
        for dirpath, dirnames, filenames in os.walk(store.root)
        for name in dirnames + filenames
    ]
    assert "store/state/layers/sha256-decoy/usr/bin/su" in names
    seen = _probe_as_nobody(tmp_path, ["store", *names])
    assert seen.pop("store") == "denied"  # not even its listing
    reachable = {name: what for name, what in seen.items() if what != "denied"}
    assert seen and not reachable
