"""Rootless: a user who is not root, with subordinate ids, builds and runs the Go example.

The test creates the user (a unique name, removed afterwards) and gives it a block of
subordinate ids in ``/etc/subuid`` and ``/etc/subgid`` (both restored afterwards).  Its
home, XDG directories and build context live in a directory of its own: pytest's
``tmp_path`` sits under root's private ``/tmp/pytest-of-root``, which the user cannot
enter.  The bases come from a root store (the builder from examples/golang/image.yaml and
``base``, as tests/integration/test_dockerfile_build.py builds them), handed over with our
own ``save`` and ``load``; the user never builds a base.

The private network's ``slirp4netns`` opens ``/dev/net/tun``, which Debian's udev makes
0666; a host without udev may leave it 0600, and the test then opens it for the duration
of the module, as a normal host has it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Cli, require, require_root, require_tool
from tests.helpers.shared import copied_store

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "hello-go"
README_BUILDER = "distroless/builder-go:1.24-debian13"
HELLO = "Hello, Distroless World!"
SUBORDINATE = Path("/etc/subuid"), Path("/etc/subgid")
TUN = Path("/dev/net/tun")
#: a subordinate block no other user of this host is likely to own
SUB_START = 2_000_000_000
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    base: Path  # the user's own directory: home, XDG directories, contexts

    @property
    def env(self) -> dict[str, str]:
        home = self.base / "home"
        return {
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_RUNTIME_DIR": str(self.base / "run"),
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
        }

    @property
    def store(self) -> Path:
        return Path(self.env["XDG_DATA_HOME"]) / "distroless"


def _python_for(name: str) -> list[str]:
    """An interpreter the user may execute, with this checkout's packages on its path.

    The test's own may live in root's home; Debian's python3 of the same version then
    runs the same code, from the source tree and the virtualenv's site-packages.
    """
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, f"/usr/bin/{version}"):
        probe = subprocess.run(
            [RUNUSER, "-u", name, "--", candidate, "-c", "import click, httpx, pydantic"],
            capture_output=True,
            check=False,
            env={"PYTHONPATH": _pythonpath(), "PATH": "/usr/bin:/bin"},
        )
        if probe.returncode == 0:
            return [candidate, "-m", "distroless"]
    pytest.skip(f"no {version} the test user may execute")


def _pythonpath() -> str:
    site = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    return os.pathsep.join([str(REPO / "src"), *site])


def _useradd(name: str, base: Path) -> User:
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", str(base / "home"), "--shell",
         "/usr/sbin/nologin", "--user-group", name],
        check=True, capture_output=True,
    )  # fmt: skip
    out = subprocess.run(["id", "-u", name], check=True, capture_output=True, text=True)
    gid = subprocess.run(["id", "-g", name], check=True, capture_output=True, text=True)
    return User(name, int(out.stdout), int(gid.stdout), base)


@contextlib.contextmanager
def _restored(paths: tuple[Path, ...]) -> Iterator[None]:
    saved = {p: p.read_bytes() if p.exists() else None for p in paths}
    try:
        yield
    finally:
        for path, data in saved.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(data)


@contextlib.contextmanager
def _users_tun_open() -> Iterator[None]:
    mode = stat.S_IMODE(os.stat(TUN).st_mode) if TUN.exists() else None
    try:
        if mode is not None and mode != 0o666:
            os.chmod(TUN, 0o666)
        yield
    finally:
        if mode is not None and mode != 0o666:
            os.chmod(TUN, mode)


@pytest.fixture(scope="module")
def root_store(tmp_path_factory: pytest.TempPathFactory, golang_base_root: Path) -> Path:
    require_tool("newuidmap")
    require_tool("runuser")
    return copied_store(golang_base_root, tmp_path_factory.mktemp("rootless-root") / "store")


@pytest.fixture(scope="module")
def users() -> Iterator[tuple[User, User]]:
    """Two new users in their own directories: the first with subordinate ids, the second
    without any."""
    require_root()
    tag = secrets.token_hex(3)
    made: list[User] = []
    base = Path(tempfile.mkdtemp(prefix="distroless-rootless-"))
    os.chmod(base, 0o755)
    try:
        saved = {p: p.read_bytes() if p.exists() else None for p in SUBORDINATE}
        with _restored(SUBORDINATE), _users_tun_open():
            for which in ("sub", "nosub"):
                own = base / which
                own.mkdir()
                user = _useradd(f"dl{which}{tag}", own)
                made.append(user)
                for sub in ("home", "run"):
                    (own / sub).mkdir(mode=0o700)
                for path in (own, own / "home", own / "run"):
                    os.chown(path, user.uid, user.gid)
            # useradd may have given both a block already (login.defs SUB_UID_COUNT): the
            # files get back what they held, and the first user one block of ours
            for path, before in saved.items():
                line = f"{made[0].name}:{SUB_START}:65536\n"
                kept = (before or b"").rstrip(b"\n")
                path.write_bytes(kept + b"\n" * bool(kept) + line.encode())
            yield made[0], made[1]
    finally:
        for user in made:
            subprocess.run(["userdel", user.name], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _as(user: User, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    argv = [RUNUSER, "-u", user.name, "--", "env", "-i"]
    argv += [f"{k}={v}" for k, v in {**user.env, "PYTHONPATH": _pythonpath()}.items()]
    argv += [*_python_for(user.name), *(os.fspath(a) for a in args)]
    return subprocess.run(
        argv, cwd=user.base, capture_output=True, text=True, check=False, timeout=900
    )


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _context(user: User) -> Path:
    dest = user.base / "hello-go"
    if not dest.exists():
        shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("myapp"))
        dockerfile = dest / "Dockerfile"
        dockerfile.write_text(dockerfile.read_text().replace(README_BUILDER, "golang:1.17"))
        for path in [dest, *dest.rglob("*")]:
            os.lchown(path, user.uid, user.gid)
    return dest


def _hand_over(root_store: Path, user: User, *names: str) -> None:
    archive = user.base / "bases.tar"
    Cli(root_store)("save", *names, "-o", archive).check()
    os.chown(archive, user.uid, user.gid)
    _ok(_as(user, "load", "-i", archive))


def _built(proc: subprocess.CompletedProcess[str]) -> str:
    found: list[str] = re.findall(r"sha256:[0-9a-f]{64}", _ok(proc).stdout + proc.stderr)
    assert found, proc.stdout + proc.stderr
    return found[-1]


def _owned_by_root(top: Path) -> list[str]:
    found = []
    for base, dirs, files in os.walk(top):
        for name in [*dirs, *files]:
            st = os.lstat(os.path.join(base, name))
            if st.st_uid == 0 or st.st_gid == 0:
                found.append(f"{os.path.join(base, name)} {st.st_uid}:{st.st_gid}")
    return found


def test_a_user_with_subordinate_ids_builds_and_runs_the_go_example(
    root_store: Path, users: tuple[User, User]
) -> None:
    user = users[0]
    _hand_over(root_store, user, "golang:1.17", "gcr.io/distroless/base:latest")
    context = _context(user)

    digest = _built(_as(user, "build", "-t", "my-distroless-app", context))
    ran = _ok(_as(user, "run", "--rm", "my-distroless-app"))
    assert ran.stdout.strip() == HELLO

    # the RUN layer records the ids the step saw, not the host's: the root build's digest
    as_root = Cli(root_store)("build", "-t", "my-distroless-app", context).check()
    assert _built(subprocess.CompletedProcess([], 0, as_root.stdout, as_root.stderr)) == digest

    assert user.store.is_dir()  # the XDG default, not a root-owned place
    assert _owned_by_root(user.base) == []
    # the base's nonroot home (uid 65532 in the image) is a subordinate id on the host
    owners = {os.lstat(p).st_uid for p in (user.store / "state" / "layers").rglob("nonroot")}
    assert SUB_START + 65532 - 1 in owners


def test_a_user_without_subordinate_ids_is_told_what_to_set_up(
    root_store: Path, users: tuple[User, User]
) -> None:
    user = users[1]
    _hand_over(root_store, user, "gcr.io/distroless/base:latest")
    proc = _as(user, "run", "--rm", "gcr.io/distroless/base:latest", "/x")
    assert proc.returncode == 10, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: running containers needs root or a user namespace")
    assert f"/etc/subuid gives {user.name} no subordinate ids" in lines[0]
    assert _owned_by_root(user.base) == []


def test_the_namespace_maps_the_user_to_root_and_its_block_above(users: tuple[User, User]) -> None:
    user = users[0]
    require(shutil.which("unshare") is not None, "unshare is not installed")
    proc = subprocess.run(
        [RUNUSER, "-u", user.name, "--", "env", "-i", f"PYTHONPATH={_pythonpath()}",
         "PATH=/usr/sbin:/usr/bin:/bin", *_python_for(user.name)[:1], "-c",
         "from distroless.runtime import userns; import sys;"
         f"sys.exit(print(' '.join(userns.reexec_argv(['cat', '/proc/self/uid_map'],"
         f" {user.name!r}, {user.uid}, {user.gid}))))"],
        capture_output=True, text=True, check=True, cwd=user.base,
    )  # fmt: skip
    mapped = subprocess.run(
        [RUNUSER, "-u", user.name, "--", *proc.stdout.split()],
        capture_output=True, text=True, check=True, cwd=user.base,
    )  # fmt: skip
    rows = [line.split() for line in mapped.stdout.splitlines()]
    assert rows == [["0", str(user.uid), "1"], ["1", str(SUB_START), "65535"]]
