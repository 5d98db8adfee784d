"""``distroless build`` with buildx's output flags, on builds that need no sandbox (``FROM
scratch``, a spec of files): what each exporter writes, and every bad value refused in one
line before anything is built."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from distroless.store import Store
from tests.helpers.cli import Cli, distroless_executable
from tests.helpers.rawtar import Member, docker_archive, tar_of
from tests.helpers.refusal import store_state

DOCKERFILE = "FROM scratch\nCOPY a.txt /x/a.txt\nCOPY sub /x/\nLABEL a=b\n"


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("hello\n")
    (ctx / "sub").mkdir()
    os.symlink("a.txt", ctx / "sub" / "link")  # copied as a link from inside a directory
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    return ctx


def test_every_output_type(cli: Cli, context: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    cli(
        "build", "-q", "-t", "app:1", "-o", str(out / "local"),
        "-o", f"type=tar,dest={out / 'fs.tar'}", "-o", f"type=oci,dest={out / 'oci.tar'}",
        "-o", f"type=docker,dest={out / 'docker.tar'}", context,
    ).check()  # fmt: skip
    assert (out / "local" / "x" / "a.txt").read_text() == "hello\n"
    assert os.readlink(out / "local" / "x" / "link") == "a.txt"
    with tarfile.open(out / "fs.tar") as tar:
        assert sorted(tar.getnames()) == ["x", "x/a.txt", "x/link"]
    stored = Store(cli.root).resolve("app:1")
    with tarfile.open(out / "oci.tar") as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        assert "manifest.json" not in tar.getnames()
    assert [m["digest"] for m in index["manifests"]] == [stored.digest]  # no SBOM entry
    with tarfile.open(out / "docker.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["app:1"]


def test_local_merges_into_an_existing_directory(cli: Cli, context: Path, tmp_path: Path) -> None:
    """As BuildKit's receiver: files already there and not in the image stay."""
    dest = tmp_path / "dest"
    (dest / "x").mkdir(parents=True)
    (dest / "keep.txt").write_text("mine")
    (dest / "x" / "a.txt").write_text("old")
    cli("build", "-q", "-o", f"type=local,dest={dest}", context).check()
    assert (dest / "keep.txt").read_text() == "mine"
    assert (dest / "x" / "a.txt").read_text() == "hello\n"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".distroless-out-")]


def test_local_never_writes_through_a_link_in_the_image(cli: Cli, tmp_path: Path) -> None:
    """A layer's symlink ``x -> HOST_DIR`` followed by ``x/f``: the file is resolved
    inside the exported root (DEST/HOST_DIR/f), never written into the host directory."""
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    layer = tar_of(
        [
            Member("x", tarfile.SYMTYPE, linkname=str(decoy), mode=0o777),
            Member("x/f", data=b"payload"),
            Member("y", tarfile.SYMTYPE, linkname="../../../../../../../../tmp", mode=0o777),
            Member("y/g", data=b"payload"),
        ]
    )
    archive = tmp_path / "hostile.tar"
    archive.write_bytes(docker_archive(layer, "sha256:" + hashlib.sha256(layer).hexdigest()))
    cli("load", "-i", archive).check()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM legacy:1\nLABEL a=b\n")
    dest = tmp_path / "dest"
    cli(
        "build",
        "-q",
        "--no-sbom",
        "-o",
        str(dest),
        "-o",
        f"type=tar,dest={tmp_path / 'fs.tar'}",
        ctx,
    ).check()
    assert os.listdir(decoy) == []
    assert (dest / str(decoy).lstrip("/") / "f").read_bytes() == b"payload"
    assert (dest / "tmp" / "g").read_bytes() == b"payload"
    with tarfile.open(tmp_path / "fs.tar") as tar:
        assert f"{str(decoy).lstrip('/')}/f" in tar.getnames()


def test_tar_to_stdout_keeps_our_lines_off_it(cli: Cli, context: Path) -> None:
    proc = subprocess.run(
        [distroless_executable(), "--root", cli.root, "build", "-o", "-", context],
        capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    assert proc.stderr.decode().strip().splitlines()[-1].startswith("Built sha256:")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        assert sorted(tar.getnames()) == ["x", "x/a.txt", "x/link"]


def test_iidfile_and_metadata_file(cli: Cli, context: Path, tmp_path: Path) -> None:
    cli(
        "build", "-q", "-t", "app:1", "-t", "other/app:2", "--iidfile", tmp_path / "iid",
        "--metadata-file", tmp_path / "meta.json", context,
    ).check()  # fmt: skip
    store = Store(cli.root)
    desc = store.resolve("app:1")
    config = store.read_manifest(desc).config.digest
    assert (tmp_path / "iid").read_text() == config
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta == {
        "containerimage.config.digest": config,
        "containerimage.descriptor": {
            "mediaType": desc.media_type, "digest": desc.digest, "size": desc.size,
        },
        "containerimage.digest": desc.digest,
        "image.name": "docker.io/library/app:1,docker.io/other/app:2",
    }  # fmt: skip


def test_labels_after_the_dockerfiles(cli: Cli, context: Path) -> None:
    cli("build", "-q", "-t", "app:1", "--label", "a=cli", "--label", "bare", context).check()
    image = Store(cli.root).load_image("app:1")
    assert dict(image.config.config.labels) == {"a": "cli", "bare": ""}


def test_spec_index_exports_one_directory_per_platform(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "image.yaml"
    spec.write_text('files:\n  - {dst: /etc/motd, content: "hi\\n"}\narchs: [amd64, arm64]\n')
    dest = tmp_path / "dest"
    cli(
        "build", "--no-sbom", "-q", "--spec", spec, "-t", "multi", "-o", str(dest),
        "-o", f"type=tar,dest={tmp_path / 'fs.tar'}", "--label", "k=v",
        "--iidfile", tmp_path / "iid", "--metadata-file", tmp_path / "meta.json",
    ).check()  # fmt: skip
    assert sorted(os.listdir(dest)) == ["linux_amd64", "linux_arm64"]
    assert (dest / "linux_arm64" / "etc" / "motd").read_text() == "hi\n"
    with tarfile.open(tmp_path / "fs.tar") as tar:
        assert "linux_amd64/etc/motd" in tar.getnames()
    store = Store(cli.root)
    desc = store.resolve("multi")
    assert (tmp_path / "iid").read_text() == desc.digest  # an index has no one config
    assert "containerimage.config.digest" not in json.loads((tmp_path / "meta.json").read_text())
    for platform in store.platforms("multi"):
        assert store.load_image("multi", platform).config.config.labels == {"k": "v"}


@pytest.mark.parametrize(
    "flags",
    [
        ("-o", "type=image,name=x"),
        ("-o", "type=local"),
        ("-o", "type=tar,dest=f,bogus=1"),
        ("-o", "-", "-o", "type=oci,dest=-"),
        ("--label", "=v"),
        ("--ssh", "default=/nonexistent/agent.sock"),
        ("--ssh", "id="),
        ("--build-context", "name"),
        ("--build-context", "name=/nonexistent/dir"),
        ("--build-context", "name=https://example.invalid/x.git"),
        ("--build-context", "name=docker-image://UPPER:bad tag"),
    ],
)
def test_bad_values_refused_before_building(
    cli: Cli, context: Path, flags: tuple[str, ...]
) -> None:
    cli("images").check()
    before = store_state(cli.root)
    result = cli("build", "-t", "app:1", *flags, context)
    assert result.exit_code == 2, result.stderr
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, message
    assert store_state(cli.root) == before


def test_a_fifo_destination_is_written_in_place(cli: Cli, context: Path, tmp_path: Path) -> None:
    """``--iidfile /dev/stdout`` and the like: a non-regular destination is opened and
    written, never replaced by a renamed temp file."""
    fifo = tmp_path / "iid.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    cli("build", "-q", "--iidfile", fifo, context).check()
    reader.join(timeout=60)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and got[0].startswith(b"sha256:")
