"""``build --output`` and friends against the real thing: the same Dockerfile built by the
test engine (engine 20.10.24, whose CLI runs BuildKit's ``local`` and ``tar`` exporters with
``DOCKER_BUILDKIT=1``; it has no buildx, so ``type=oci``/``type=docker`` and
``--metadata-file`` are checked against skopeo, umoci and ``docker load`` instead) and by us.

``type=local`` is compared on path, type, mode, content and link target (buildx gives the
files to the user who runs the build, so owners are not part of it: both are root here);
``type=tar`` also on owners, which the tar keeps.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from tests.dockerfile.differential.harness import (
    PATH_ENV,
    EngineTurns,
    busybox_rootfs,
    checked,
    distroless,
    docker,
    docker_save,
)
from tests.helpers import DockerEngine, require_root, require_tool
from tests.helpers.flatten import Node, apply_layer, layer_changes

from distroless.store import Store

pytestmark = pytest.mark.unsafe_images

BASE = "difftest-out/busybox:latest"
DOCKERFILE = """\
FROM difftest-out/busybox
RUN mkdir -p /srv/data/deep && echo data > /srv/data/deep/f && chmod 4755 /srv/data/deep/f \\
 && chown 1000:1000 /srv/data && ln -s deep/f /srv/data/link && mkfifo /srv/fifo \\
 && rm /etc/group && rm -r /opt/private && chmod 0700 /srv
COPY --chmod=0640 app.txt /srv/app.txt
LABEL from.dockerfile=yes over=dockerfile
"""
LABELS = ("over=cli", "extra=1")


@pytest.fixture(scope="module")
def base_store(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the busybox base byte for byte as the engine holds it."""
    require_root()
    require_tool("runc")
    busybox = require_tool("busybox", "/bin/busybox")
    work = tmp_path_factory.mktemp("out-base")
    rootfs = busybox_rootfs(work / "rootfs.tar", busybox)
    checked(docker(docker_engine, "import", "--change", f"ENV {PATH_ENV}", rootfs, BASE), "import")
    docker_save(docker_engine, BASE, work / "base.tar", EngineTurns())
    store = work / "store"
    checked(distroless(store, "load", "-i", work / "base.tar"), "distroless load")
    return store


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ctx = tmp_path_factory.mktemp("out-ctx")
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "app.txt").write_text("app\n")
    return ctx


def _labels() -> list[str]:
    return [arg for label in LABELS for arg in ("--label", label)]


@pytest.fixture(scope="module")
def ours(base_store: Path, context: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our build with every exporter at once, plus ``--iidfile`` and ``--metadata-file``."""
    out = tmp_path_factory.mktemp("ours")
    checked(
        distroless(
            base_store, "build", "-q", "-t", "outtest/app:v1", *_labels(),
            "-o", f"type=local,dest={out / 'local'}", "-o", f"type=tar,dest={out / 'fs.tar'}",
            "-o", f"type=oci,dest={out / 'oci.tar'}", "-o", f"type=docker,dest={out / 'd.tar'}",
            "--iidfile", out / "iid", "--metadata-file", out / "meta.json", context,
        ),
        "distroless build -o",
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def theirs(
    docker_engine: DockerEngine,
    base_store: Path,
    context: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    out = tmp_path_factory.mktemp("theirs")
    for spec in (f"type=local,dest={out / 'local'}", f"type=tar,dest={out / 'fs.tar'}"):
        checked(docker(docker_engine, "build", "--network=host", "-o", spec, context), spec)
    checked(
        docker(docker_engine, "build", "-q", "--network=host", "-t", "outtest/app:docker",
               "--iidfile", out / "iid", *_labels(), context),
        "docker build --label",
    )  # fmt: skip
    return out


def _tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under ``root`` (not the root itself): type, mode, content, link target."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            content: object = None
            if stat.S_ISREG(st.st_mode):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            kind = stat.S_IFMT(st.st_mode)
            out[str(path.relative_to(root))] = (kind, stat.S_IMODE(st.st_mode), content)
    return out


def _tar_tree(path: Path) -> dict[str, Node]:
    files: dict[str, Node] = {}
    with path.open("rb") as fh:
        apply_layer(files, layer_changes(fh))
    return {k: v for k, v in files.items()}


def test_local_output_equals_docker(ours: Path, theirs: Path) -> None:
    mine, docker_s = _tree(ours / "local"), _tree(theirs / "local")
    assert "srv/data/deep/f" in mine and "etc/group" not in mine and "opt/private" not in mine
    assert mine == docker_s


def test_local_output_files_belong_to_the_user(ours: Path) -> None:
    """buildx's receiver gives the files to whoever runs the build (here root), not 1000."""
    assert (ours / "local" / "srv" / "data").lstat().st_uid == os.getuid()


def test_tar_output_equals_docker(ours: Path, theirs: Path) -> None:
    mine, docker_s = _tar_tree(ours / "fs.tar"), _tar_tree(theirs / "fs.tar")
    assert mine["srv/data"].uid == 1000
    assert mine == docker_s


def test_oci_output_read_by_skopeo_and_umoci(ours: Path, base_store: Path, tmp_path: Path) -> None:
    skopeo = require_tool("skopeo")
    umoci = require_tool("umoci")
    stored = Store(base_store).resolve("outtest/app:v1")
    shown = json.loads(
        subprocess.run(
            [skopeo, "inspect", f"oci-archive:{ours / 'oci.tar'}"],
            check=True, capture_output=True, text=True,
        ).stdout
    )  # fmt: skip
    assert shown["Digest"] == stored.digest
    assert shown["Labels"]["over"] == "cli"
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(ours / "oci.tar") as tar:
        tar.extractall(layout, filter="data")
    subprocess.run(
        [umoci, "unpack", "--image", f"{layout}:outtest/app:v1", tmp_path / "bundle"],
        check=True, capture_output=True,
    )  # fmt: skip
    assert (tmp_path / "bundle" / "rootfs" / "srv" / "app.txt").read_text() == "app\n"
    assert not (tmp_path / "bundle" / "rootfs" / "etc" / "group").exists()


def test_docker_output_loads_and_runs(ours: Path, docker_engine: DockerEngine) -> None:
    checked(docker(docker_engine, "load", "-i", ours / "d.tar"), "docker load")
    ran = docker(docker_engine, "run", "--rm", "--network", "none", "outtest/app:v1",
                 "cat", "/srv/app.txt")  # fmt: skip
    if ran.returncode != 0:  # say what the engine holds under the name
        shown = docker(docker_engine, "inspect", "outtest/app:v1").stdout
        raise AssertionError(f"docker run failed:\n{ran.stderr}\n{shown[:3000]}")
    assert ran.stdout == "app\n"


def test_labels_as_docker_sets_them(ours: Path, theirs: Path, docker_engine: DockerEngine) -> None:
    checked(docker(docker_engine, "load", "-i", ours / "d.tar"), "docker load")

    def labels(ref: str) -> object:
        shown = checked(docker(docker_engine, "inspect", ref), f"docker inspect {ref}")
        return json.loads(shown)[0]["Config"]["Labels"]

    assert labels("outtest/app:v1") == labels("outtest/app:docker")
    assert labels("outtest/app:v1") == {"from.dockerfile": "yes", "over": "cli", "extra": "1"}


def _docker_id(engine: DockerEngine, ref: str) -> str:
    shown = checked(docker(engine, "inspect", "--format", "{{.Id}}", ref), "docker inspect")
    return shown.strip()


def test_iidfile_and_metadata_name_the_stored_image(
    ours: Path, theirs: Path, base_store: Path, docker_engine: DockerEngine
) -> None:
    store = Store(base_store)
    desc = store.resolve("outtest/app:v1")
    config_digest = store.read_manifest(desc).config.digest
    assert (ours / "iid").read_text() == config_digest
    # docker writes its image id too: the config digest, as ``docker inspect`` shows it
    assert (theirs / "iid").read_text() == _docker_id(docker_engine, "outtest/app:docker")
    meta = json.loads((ours / "meta.json").read_text())
    assert meta["containerimage.digest"] == desc.digest
    assert meta["containerimage.config.digest"] == config_digest
    assert meta["containerimage.descriptor"] == {
        "mediaType": desc.media_type, "digest": desc.digest, "size": desc.size,
    }  # fmt: skip
    assert meta["image.name"] == "docker.io/outtest/app:v1"
