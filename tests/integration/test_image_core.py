"""Issue "image core" end to end: what `build --spec` makes runs in a real Docker engine and
reads cleanly in skopeo and umoci; builds are reproducible and survive being killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import (
    HELLO_LINE,
    Cli,
    DockerEngine,
    distroless_executable,
    skopeo_inspect,
    umoci,
    wait_until,
)


def _hello_spec(tmp_path: Path, binary: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    shutil.copy(binary, ctx / "hello")
    spec = ctx / "image.yaml"
    spec.write_text(
        "files:\n  - {src: hello, dst: /hello, mode: 0755}\n"
        "entrypoint: [/hello]\nlabels: {org.opencontainers.image.title: hello}\n"
    )
    return spec


def test_spec_image_runs_in_docker(
    tmp_path: Path, cli: Cli, hello_go_binary: Path, docker_engine: DockerEngine
) -> None:
    spec = _hello_spec(tmp_path, hello_go_binary)
    cli.subprocess("build", "--spec", spec, "-t", "core-hello:v1").check()
    archive = tmp_path / "hello.tar"
    cli.subprocess("save", "core-hello:v1", "-o", archive).check()
    assert docker_engine.load(archive) == ["core-hello:v1"]
    out = docker_engine.run("run", "--rm", "--network", "none", "core-hello:v1").stdout
    assert out.strip() == HELLO_LINE


def test_skopeo_and_umoci_read_store_and_oci_save(
    tmp_path: Path, cli: Cli, hello_go_binary: Path
) -> None:
    spec = _hello_spec(tmp_path, hello_go_binary)
    cli("build", "--spec", spec, "-t", "readers:v1").check()
    digest = cli("inspect", "readers:v1").check().json()["manifestDigest"]  # type: ignore[index]

    seen = skopeo_inspect(f"oci:{cli.root}:readers:v1")
    assert seen["Digest"] == digest  # type: ignore[index]
    assert seen["Labels"] == {"org.opencontainers.image.title": "hello"}  # type: ignore[index]

    bundle = tmp_path / "bundle-store"
    umoci("unpack", "--image", f"{cli.root}:readers:v1", bundle)
    assert (bundle / "rootfs" / "hello").read_bytes() == hello_go_binary.read_bytes()
    assert json.loads((bundle / "config.json").read_text())["process"]["args"] == ["/hello"]

    oci_tar = tmp_path / "oci.tar"
    cli("save", "--format", "oci", "readers:v1", "-o", oci_tar).check()
    assert skopeo_inspect(f"oci-archive:{oci_tar}:readers:v1")["Digest"] == digest  # type: ignore[index]
    layout = tmp_path / "layout"
    layout.mkdir()
    subprocess.run(["tar", "-xf", oci_tar, "-C", layout], check=True)
    umoci("unpack", "--image", f"{layout}:readers:v1", tmp_path / "bundle-oci")
    assert (tmp_path / "bundle-oci" / "rootfs" / "hello").exists()


def test_load_of_docker_save_matches_docker_diff_ids(
    tmp_path: Path, cli: Cli, docker_engine: DockerEngine, hello_image: str
) -> None:
    archive = tmp_path / "docker-save.tar"
    docker_engine.run("save", hello_image, "-o", archive)
    expected = json.loads(
        docker_engine.run("inspect", "--format", "{{json .RootFS.Layers}}", hello_image).stdout
    )
    assert (
        cli("load", "-i", archive).check().stdout.strip()
        == f"Loaded image: {hello_image.removeprefix('docker.io/')}"
    )
    config = cli("inspect", hello_image).check().json()["config"]  # type: ignore[index]
    assert config["rootfs"]["diff_ids"] == expected
    assert cli("fsck").check().stdout.strip() == "store is consistent"


def test_same_spec_twice_same_digest(tmp_path: Path, hello_go_binary: Path) -> None:
    spec = _hello_spec(tmp_path, hello_go_binary)
    digests = []
    for name in ("one", "two"):
        os.utime(spec.parent / "hello", (1_600_000_000 + len(name) * 1000,) * 2)
        result = Cli(tmp_path / name).subprocess("build", "-q", "--spec", spec).check()
        digests.append(result.stdout.strip())
    assert digests[0] == digests[1]
    assert digests[0].startswith("sha256:")


def test_killed_build_leaves_store_consistent(tmp_path: Path, cli: Cli) -> None:
    ctx = tmp_path / "big"
    ctx.mkdir()
    with (ctx / "blob").open("wb") as fh:
        for _ in range(64):
            fh.write(os.urandom(1 << 20))
    spec = ctx / "image.yaml"
    spec.write_text("files:\n  - {src: blob, dst: /blob}\n")
    cli(
        "build",
        "--spec",
        _hello_spec(tmp_path, Path(shutil.which("true") or "/bin/true")),
        "-t",
        "before",
    ).check()
    proc = subprocess.Popen(
        [distroless_executable(), "--root", cli.root, "build", "--spec", spec, "-t", "big"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tmp_dir = cli.root / "tmp"
    try:
        wait_until(
            lambda: any(p.stat().st_size > (8 << 20) for p in tmp_dir.iterdir()),
            timeout=120,
            what="the build to be midway through writing its layer",
            abort=lambda: "build exited early" if proc.poll() is not None else None,
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert cli("fsck").check().stdout.strip() == "store is consistent"
    names = [row["name"] for row in cli("images", "--json").check().json()]  # type: ignore[attr-defined]
    assert names == ["before:latest"]
    cli("build", "--spec", spec, "-t", "big").check()
    assert cli("fsck").check().stdout.strip() == "store is consistent"
    cli("prune").check()
    assert list(tmp_dir.iterdir()) == []
    assert cli("fsck").check().ok


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("build", "--spec", "/nonexistent/image.yaml"), "no such spec file"),
        (("inspect", "Not A Ref"), "invalid reference"),
        (("tag", "missing:1", "other:1"), "is not in the store"),
        (("load", "-i", "/nonexistent.tar"), "no such file"),
    ],
)
def test_cli_errors_are_one_line(cli: Cli, args: tuple[str, ...], message: str) -> None:
    result = cli.subprocess(*args)
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_spec_error_names_line(tmp_path: Path, cli: Cli) -> None:
    spec = tmp_path / "image.yaml"
    spec.write_text("files:\n  - dst: /x\n    contnt: hi\n")
    result = cli.subprocess("build", "--spec", spec)
    assert result.exit_code == 3
    assert result.stderr.strip() == f"error: {spec}:3: unknown key 'files.0.contnt'"
