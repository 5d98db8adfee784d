"""The one resolver inside a root: fakes for the rules, the kernel (in a chroot) as the oracle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distroless.rootpath import (
    MAX_SYMLINK_HOPS,
    ReadLink,
    SymlinkLoopError,
    host_path_in_root,
    host_readlink,
    resolve_in_root,
)


def links(table: dict[str, str]) -> ReadLink:
    return table.get


def test_absolute_link_restarts_at_the_root() -> None:
    assert resolve_in_root("etc/x", links({"etc": "/private/etc"})) == "private/etc/x"


def test_dotdot_stops_at_the_root() -> None:
    assert resolve_in_root("../../../etc/shadow", links({})) == "etc/shadow"
    assert resolve_in_root("a/b", links({"a": "../../../../outside"})) == "outside/b"


def test_relative_link_is_relative_to_its_directory() -> None:
    assert resolve_in_root("d/l", links({"d/l": "../t"})) == "t"


def test_last_component_kept_when_not_following() -> None:
    table = {"l": "/etc/shadow"}
    assert resolve_in_root("l", links(table), follow_last=False) == "l"
    assert resolve_in_root("l", links(table)) == "etc/shadow"
    # a link in a parent position is always followed
    assert resolve_in_root("l/x", links({"l": "d"}), follow_last=False) == "d/x"


def test_loops_are_refused() -> None:
    with pytest.raises(SymlinkLoopError):
        resolve_in_root("a", links({"a": "b", "b": "a"}))
    chain = {f"l{i}": f"l{i + 1}" for i in range(MAX_SYMLINK_HOPS)}
    assert resolve_in_root("l0", links(chain)) == f"l{MAX_SYMLINK_HOPS}"
    chain[f"l{MAX_SYMLINK_HOPS}"] = "end"
    with pytest.raises(SymlinkLoopError):
        resolve_in_root("l0", links(chain))


def test_root_itself() -> None:
    assert resolve_in_root("/", links({})) == ""
    assert resolve_in_root("l", links({"l": "/"})) == ""
    assert resolve_in_root("l", links({"l": ".."})) == ""


def test_host_tree_never_leaves_the_root(tmp_path: Path) -> None:
    decoy = tmp_path / "decoy"
    decoy.write_text("host secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "abs").symlink_to(decoy)
    (root / "rel").symlink_to("../decoy")
    (root / "dir").symlink_to(tmp_path)
    assert host_path_in_root(root, "abs") == root / decoy.relative_to("/")
    assert host_path_in_root(root, "rel") == root / "decoy"
    assert host_path_in_root(root, "dir/decoy") == root / tmp_path.relative_to("/") / "decoy"
    assert host_path_in_root(root, "abs", follow_last=False) == root / "abs"


# -- differential: the kernel resolving the same tree inside a chroot ----------------------

_NAMES = st.sampled_from(["a", "b", "c"])
_TARGETS = st.lists(st.sampled_from(["a", "b", "c", "..", ".", ""]), min_size=1, max_size=4)


@st.composite
def trees(draw: st.DrawFn) -> dict[str, str | None]:
    """Paths up to two deep: None for a directory, a string for a symlink target."""
    tree: dict[str, str | None] = {}
    for top in draw(st.sets(_NAMES, min_size=1)):
        if draw(st.booleans()):
            tree[top] = None
            for sub in draw(st.sets(_NAMES)):
                target = draw(_TARGETS)
                tree[f"{top}/{sub}"] = None if draw(st.booleans()) else _join(draw, target)
        else:
            tree[top] = _join(draw, draw(_TARGETS))
    return tree


def _join(draw: st.DrawFn, parts: list[str]) -> str:
    text = "/".join(parts) or "."
    return ("/" + text) if draw(st.booleans()) else text


def _kernel_resolve(root: Path, path: str) -> str | None:
    """What the kernel makes of ``path`` with ``root`` as the process root (in a child)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read)
            proc_fd = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
            os.chroot(root)
            os.chdir("/")
            try:
                fd = os.open(path, os.O_PATH)
                answer = os.readlink(str(fd), dir_fd=proc_fd)
            except OSError:
                answer = "\0"
            os.write(write, answer.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read().decode()
    os.waitpid(pid, 0)
    return None if data == "\0" else data.lstrip("/")


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tree=trees(), path=st.lists(st.sampled_from(["a", "b", "c", ".."]), min_size=1, max_size=4))
def test_agrees_with_the_kernel(
    tmp_path_factory: pytest.TempPathFactory, tree: dict[str, str | None], path: list[str]
) -> None:
    root = tmp_path_factory.mktemp("root")
    for rel in sorted(tree):
        target = tree[rel]
        host = root / rel
        if not host.parent.is_dir() or os.path.lexists(host):
            continue
        if target is None:
            host.mkdir()
        else:
            host.symlink_to(target)
    wanted = "/".join(path)
    kernel = _kernel_resolve(root, wanted)
    if kernel is None:
        return  # the kernel found nothing there (missing, a loop, a file used as a dir)
    try:
        ours = resolve_in_root(wanted, host_readlink(root))
    except SymlinkLoopError:
        pytest.fail(f"kernel resolved {wanted!r} to {kernel!r}, we saw a loop")
    assert ours == kernel
