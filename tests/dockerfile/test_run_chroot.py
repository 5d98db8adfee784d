"""``build --isolation chroot`` against runc: the same Dockerfile gives the same image.

The chroot runner finds a step's changes from inode and ctime records instead of an
overlay's upper directory, so every kind of change a step can make (new, changed and
removed files, a directory removed and made again, hard and symbolic links, modes and
owners, a working directory made for the step, a read-only mount) is built once under runc
(``oci``) and once under ``chroot``, into two stores, and the two image digests must be equal.
What chroot cannot do (writable mounts, ``--network=none``) is refused in one line, with the
store left as it was.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from distroless.dockerfile.executor import CHROOT_FALLBACK
from distroless.store import Store
from tests.dockerfile.executor_helpers import Built, build, shell_store, write_context
from tests.helpers.cli import Cli, distroless_executable
from tests.helpers.refusal import store_state
from tests.helpers.require import require_tool

# The RUN base has a shell, as a builder stage does.
pytestmark = [pytest.mark.integration, pytest.mark.unsafe_images]

_CHANGES = """\
FROM shell
RUN mkdir -p /a/b /d/e /keep && echo one > /a/b/f && echo old > /d/old && touch /d/e/x \\
 && ln /a/b/f /a/hard && ln -s b/f /a/sym && chmod 700 /a/b && chown 1000:1000 /a/b/f \\
 && mkdir -m 1777 /tmp && echo same > /keep/same
RUN rm /a/hard && echo two >> /a/b/f && rm -r /d && mkdir /d && echo new > /d/new \\
 && chmod 4755 /a/b/f && echo SAME > /keep/same && mv /a/sym /a/moved
WORKDIR /.cache/w
RUN pwd > here && mkdir -p /tmp/t/u && rm -r /tmp/t
COPY data /data/
RUN --mount=type=bind,source=data,target=/mnt/data \\
 read -r l < /mnt/data/one && echo "$l" > /from-mount
USER 1000:1000
RUN echo mine > /tmp/mine && id -u > /tmp/uid
"""

_CASES = {
    "changes": _CHANGES,
    "first step on a bare root": "FROM shell\nRUN echo made > /made.txt\n",
    "etc made by the step": "FROM shell\nRUN mkdir -p /etc && echo x > /etc/hosts.allow\n",
    "a file replaced by a directory": (
        "FROM shell\nRUN echo f > /thing && ln -s /thing /link\n"
        "RUN rm /thing && mkdir /thing && echo in > /thing/inside && rm /link\n"
    ),
}


def _built(tmp_path: Path, dockerfile: str, isolation: str) -> Built:
    store = shell_store(tmp_path / f"store-{isolation}")
    context = write_context(tmp_path / f"ctx-{isolation}", {"data/one": "from the context\n"})
    return build(store, context, dockerfile, isolation=isolation)


@pytest.mark.parametrize("name", sorted(_CASES))
def test_chroot_gives_the_image_runc_gives(tmp_path: Path, name: str) -> None:
    dockerfile = _CASES[name]
    oci = _built(tmp_path, dockerfile, "oci")
    chroot = _built(tmp_path, dockerfile, "chroot")
    oci_files = {path: (info.mode, info.uid, info.gid, info.type, data) for path, (info, data)
                 in oci.files().items()}  # fmt: skip
    chroot_files = {path: (info.mode, info.uid, info.gid, info.type, data) for path, (info, data)
                    in chroot.files().items()}  # fmt: skip
    assert chroot_files == oci_files
    assert chroot.result.descriptor.digest == oci.result.descriptor.digest


def test_the_changes_case_saw_every_change(tmp_path: Path) -> None:
    """The parity above would also hold if both runners lost the same change."""
    files = _built(tmp_path, _CHANGES, "chroot").files()
    layers = _built(tmp_path, _CHANGES, "oci").layers()
    second = layers[2]  # the base, then the first RUN
    assert ".wh.hard" in {p.rsplit("/", 1)[-1] for p in second if p.startswith("a/")}
    assert "d/.wh..wh..opq" in second
    assert files["keep/same"][1] == b"SAME\n"
    assert files["a/b/f"][0].mode & 0o7777 == 0o4755
    assert files[".cache/w/here"][1] == b"/.cache/w\n"
    assert files["from-mount"][1] == b"from the context\n"
    assert files["tmp/uid"][1] == b"1000\n"
    assert (files["tmp/mine"][0].uid, files["tmp/mine"][0].gid) == (1000, 1000)
    assert "tmp/t" not in files and "mnt/data/one" not in files


def test_a_failing_step_fails_the_build_with_its_exit_code(tmp_path: Path) -> None:
    store = shell_store(tmp_path / "store")
    cli = Cli(store.root)
    context = write_context(tmp_path / "ctx", {"Dockerfile": "FROM shell\nRUN exit 3\n"})
    result = cli("build", "-q", "--isolation", "chroot", context)
    assert result.exit_code != 0
    assert result.stderr.strip().endswith("RUN exit 3 exited with code 3"), result.stderr


@pytest.mark.parametrize(
    ("run", "named"),
    [
        ("RUN --mount=type=cache,target=/cache true", "writable mount at /cache"),
        ("RUN --mount=type=tmpfs,target=/scratch true", "writable mount at /scratch"),
        ("RUN --network=none true", "--network=none"),
    ],
)
def test_what_chroot_cannot_isolate_is_refused_in_one_line(
    tmp_path: Path, run: str, named: str
) -> None:
    store = shell_store(tmp_path / "store")
    cli = Cli(store.root)
    context = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM shell\n{run}\n"})
    cli("images").check()
    before = store_state(store.root)
    result = cli("build", "-q", "--isolation", "chroot", context)
    assert result.exit_code == 9, result.stderr  # a build error naming the step
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, message
    assert named in message and "--isolation chroot" in message, message
    assert store_state(store.root) == before
    scratch = Store(store.root).state_dir("build")
    assert [p.name for p in scratch.iterdir() if p.name.startswith("chroot-")] == []


def _without_sys_admin(root: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI as root without CAP_SYS_ADMIN, as in a container with the engine's defaults:
    no mount namespace can be made, so runc and overlays cannot work."""
    setpriv = require_tool("setpriv")
    argv = [str(setpriv), "--inh-caps=-sys_admin", "--bounding-set=-sys_admin",
            str(distroless_executable()), "--root", str(root), *map(str, args)]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)


def test_without_namespaces_auto_falls_back_to_chroot_and_run_refuses(tmp_path: Path) -> None:
    dockerfile = _CASES["changes"]
    oci = _built(tmp_path, dockerfile, "oci")
    # a store of its own: without CAP_SYS_ADMIN the layer cache marks opaque directories
    # with user.* attributes
    store = shell_store(tmp_path / "store-nocap")
    context = write_context(tmp_path / "ctx-nocap", {"data/one": "from the context\n",
                                                     "Dockerfile": dockerfile})  # fmt: skip
    built = _without_sys_admin(store.root, "build", "-t", "app", context)
    assert built.returncode == 0, built.stderr
    assert built.stderr.count(CHROOT_FALLBACK) == 1, built.stderr
    assert Store(store.root).resolve("app").digest == oci.result.descriptor.digest
    ran = _without_sys_admin(store.root, "run", "--rm", "app", "true")
    assert ran.returncode == 10, ran.stderr
    message = ran.stderr.strip()
    assert "\n" not in message and "--isolation chroot" in message, message
    (context / "Dockerfile").write_text(dockerfile + "RUN echo more > /tmp/more\n")
    forced = _without_sys_admin(store.root, "build", "-q", "--isolation", "oci", context)
    assert forced.returncode != 0, forced.stderr
    assert len(forced.stderr.strip().splitlines()) == 1, forced.stderr


def test_a_step_that_cannot_enter_its_root_says_why(tmp_path: Path) -> None:
    """Without CAP_SYS_CHROOT (a pod that drops every capability) the child cannot chroot;
    the build names that, not the child's failure before exec."""
    setpriv = require_tool("setpriv")
    store = shell_store(tmp_path / "store")
    context = write_context(tmp_path / "ctx", {"Dockerfile": "FROM shell\nRUN true\n"})
    drop = "-sys_admin,-sys_chroot"
    argv = [str(setpriv), f"--inh-caps={drop}", f"--bounding-set={drop}",
            str(distroless_executable()), "--root", str(store.root), "build", "-q",
            "--isolation", "chroot", str(context)]  # fmt: skip
    built = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 9, built.stderr
    message = built.stderr.strip()
    assert "\n" not in message, message
    assert "cannot chroot into the step's root: Operation not permitted" in message, message
