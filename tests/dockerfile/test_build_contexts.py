"""``build --build-context NAME=DIR|NAME=docker-image://REF``, as buildx names them:
``FROM NAME``, ``COPY --from=NAME`` and ``RUN --mount=...,from=NAME`` see the context."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from distroless.store import Store
from tests.dockerfile.executor_helpers import busybox_image, image_layers, static_busybox
from tests.helpers.cli import Cli
from tests.helpers.require import require_tool


def _files(cli: Cli, name: str) -> dict[str, tuple[int, int, bytes | None]]:
    store = Store(cli.root)
    merged: dict[str, tuple[int, int, bytes | None]] = {}
    for layer in image_layers(store, store.resolve(name)):
        for path, (info, content) in layer.items():
            merged[path] = (info.uid, info.gid, content)
    return merged


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    root = tmp_path / "assets"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("asset\n")
    (root / "sub" / "b.txt").write_text("deep\n")
    return root


def _context(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def test_copy_from_a_directory_context(cli: Cli, assets: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM scratch\nCOPY --from=assets /a.txt /sub/ /out/\n")
    cli("build", "-q", "-t", "c:1", "--build-context", f"assets={assets}", ctx).check()
    files = _files(cli, "c:1")
    assert files["out/a.txt"] == (0, 0, b"asset\n")
    assert files["out/b.txt"] == (0, 0, b"deep\n")


def test_from_a_directory_context(cli: Cli, assets: Path, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "FROM assets\nLABEL x=y\n")
    cli("build", "-q", "-t", "c:2", "--build-context", f"assets={assets}", ctx).check()
    files = _files(cli, "c:2")
    assert files["a.txt"][2] == b"asset\n" and files["sub/b.txt"][2] == b"deep\n"


def test_a_changed_directory_is_not_served_from_the_cache(
    cli: Cli, assets: Path, tmp_path: Path
) -> None:
    ctx = _context(tmp_path, "FROM scratch\nCOPY --from=assets /a.txt /a.txt\n")
    cli("build", "-q", "-t", "c:3", "--build-context", f"assets={assets}", ctx).check()
    (assets / "a.txt").write_text("changed\n")
    cli("build", "-q", "-t", "c:4", "--build-context", f"assets={assets}", ctx).check()
    assert _files(cli, "c:4")["a.txt"][2] == b"changed\n"


def test_docker_image_context_replaces_the_image_name(cli: Cli, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "Dockerfile").write_text("FROM scratch\nCOPY lib.txt /lib.txt\n")
    (lib / "lib.txt").write_text("from lib\n")
    cli("build", "-q", "-t", "mylib:1", lib).check()
    ctx = _context(
        tmp_path, "FROM alpine:3\nCOPY --from=docker.io/library/alpine:3 /lib.txt /again.txt\n"
    )
    flag = "alpine:3=docker-image://mylib:1"
    cli("build", "-q", "-t", "c:5", "--build-context", flag, ctx).check()
    files = _files(cli, "c:5")
    assert files["lib.txt"][2] == b"from lib\n" and files["again.txt"][2] == b"from lib\n"


def test_a_link_in_the_directory_is_not_followed_on_the_host(cli: Cli, tmp_path: Path) -> None:
    decoy = tmp_path / "decoy.txt"
    decoy.write_text("host secret\n")
    assets = tmp_path / "assets"
    assets.mkdir()
    os.symlink(str(decoy), assets / "evil")
    ctx = _context(tmp_path, "FROM assets\n")
    cli("build", "-q", "-t", "c:6", "--build-context", f"assets={assets}", ctx).check()
    files = _files(cli, "c:6")
    assert files["evil"][2] is None  # a symlink entry, its target never read
    assert all(content != b"host secret\n" for _, _, content in files.values())


def test_a_context_named_like_a_stage_replaces_it(cli: Cli, assets: Path, tmp_path: Path) -> None:
    # BuildKit: the stage's base becomes the context and none of its instructions runs, so
    # neither the stage's own file nor the stage it copies from (which would fail) is built
    ctx = _context(
        tmp_path,
        "FROM scratch AS broken\nCOPY missing /\n"
        "FROM scratch AS assets\nCOPY --from=broken / /\nCOPY Dockerfile /own\n"
        "FROM scratch\nCOPY --from=assets / /out/\n",
    )
    cli("build", "-q", "-t", "c:7", "--build-context", f"assets={assets}", ctx).check()
    files = _files(cli, "c:7")
    assert files["out/a.txt"][2] == b"asset\n" and files["out/sub/b.txt"][2] == b"deep\n"
    assert "out/own" not in files
    cli(
        "build", "-q", "-t", "c:8", "--target", "assets", "--build-context", f"assets={assets}", ctx
    ).check()
    assert _files(cli, "c:8")["a.txt"][2] == b"asset\n"


@pytest.mark.integration
@pytest.mark.unsafe_images
def test_run_mounts_a_named_context(cli: Cli, assets: Path, tmp_path: Path) -> None:
    require_tool("runc")
    static_busybox()
    busybox_image(Store(cli.root), "shell:latest")
    ctx = _context(
        tmp_path,
        "FROM shell\nRUN --mount=type=bind,from=assets,source=sub,target=/mnt "
        "cat /mnt/b.txt > /got.txt\n",
    )
    cli("build", "-q", "-t", "c:7", "--build-context", f"assets={assets}", ctx).check()
    assert _files(cli, "c:7")["got.txt"][2] == b"deep\n"
