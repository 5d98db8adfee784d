from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from distroless.assemble.image import LayerSource
from distroless.assemble.spec_build import build_spec
from distroless.errors import NotFoundError
from distroless.layers.compress import open_decompressed
from distroless.oci.models import Platform
from distroless.spec import load_spec
from distroless.spec.model import ImageSpec
from distroless.store import Store, StoredImage


def _context(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    app = tmp_path / "bin" / "app"
    app.write_bytes(b"#!binary\n")
    os.utime(app, (1_700_000_000, 1_700_000_000))
    spec = tmp_path / "image.yaml"
    spec.write_text(
        """
files:
  - {src: bin/app, dst: /app, mode: 0755}
  - {dst: /etc/motd, content: "hello\\n"}
entrypoint: ["/app"]
env: {GREETING: hi}
labels: {org.example: "yes"}
"""
    )
    return spec


def test_spec_image_content(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    desc = build_spec(store, load_spec(_context(tmp_path)), platforms=[Platform("linux", "amd64")])
    store.tag("app:1", desc)
    image = store.load_image("app:1")
    assert image.config.config.entrypoint == ("/app",)
    assert image.config.config.env == ("GREETING=hi",)
    assert image.config.created == "1970-01-01T00:00:00Z"
    assert len(image.layers) == 1
    with store.open_blob(image.layers[0].digest) as fh:
        tar = tarfile.open(fileobj=open_decompressed(fh), mode="r|")
        members = {m.name: (m.mode, m.mtime) for m in tar}
    assert members == {"app": (0o755, 0), "etc": (0o755, 0), "etc/motd": (0o644, 0)}


def test_same_spec_same_digest_across_stores(tmp_path: Path) -> None:
    spec = load_spec(_context(tmp_path))
    first = build_spec(Store(tmp_path / "a"), spec, platforms=[Platform("linux", "amd64")])
    os.utime(tmp_path / "bin" / "app", (1_800_000_000, 1_800_000_000))
    second = build_spec(Store(tmp_path / "b"), spec, platforms=[Platform("linux", "amd64")])
    assert first.digest == second.digest


def test_multi_arch_gives_index(tmp_path: Path) -> None:
    spec_path = _context(tmp_path)
    spec_path.write_text(spec_path.read_text() + "archs: [amd64, arm64]\n")
    store = Store(tmp_path / "store")
    desc = build_spec(store, load_spec(spec_path))
    store.tag("multi", desc)
    assert sorted(str(p) for p in store.platforms("multi")) == ["linux/amd64", "linux/arm64"]


def test_debian_architectures_are_labelled_with_oci_platforms(tmp_path: Path) -> None:
    spec_path = _context(tmp_path)
    spec_path.write_text(
        spec_path.read_text() + "packages: [libc6]\narchs: [armhf, armel, i386, ppc64el]\n"
    )
    asked: list[str] = []

    def package_layers(spec: ImageSpec, arch: str, base: StoredImage | None) -> list[LayerSource]:
        asked.append(arch)  # packages are fetched by the Debian name
        return []

    store = Store(tmp_path / "store")
    store.tag("ports", build_spec(store, load_spec(spec_path), package_layers=package_layers))
    assert asked == ["armhf", "armel", "i386", "ppc64el"]
    assert sorted(str(p) for p in store.platforms("ports")) == [
        "linux/386",
        "linux/arm/v5",
        "linux/arm/v7",
        "linux/ppc64le",
    ]
    config = store.load_image("ports", Platform("linux", "arm", "v7")).config
    assert (config.architecture, config.variant) == ("arm", "v7")


def test_missing_base_is_clear(tmp_path: Path) -> None:
    spec_path = _context(tmp_path)
    spec_path.write_text(spec_path.read_text() + "base: nothere:1\n")
    with pytest.raises(NotFoundError, match="nothere:1 is not in the store"):
        build_spec(Store(tmp_path / "store"), load_spec(spec_path))


def test_base_layers_and_config_are_inherited(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    spec_path = _context(tmp_path)
    store.tag("base:1", build_spec(store, load_spec(spec_path)))
    child = tmp_path / "child.yaml"
    child.write_text("base: base:1\ncmd: [--flag]\nfiles:\n  - {dst: /extra, content: x}\n")
    desc = build_spec(store, load_spec(child))
    store.tag("child:1", desc)
    image = store.load_image("child:1")
    assert len(image.layers) == 2
    assert image.config.config.entrypoint == ("/app",)
    assert image.config.config.cmd == ("--flag",)
    assert len(image.config.diff_ids) == 2


def _base_with(store: Store, tmp_path: Path, name: str, text: str) -> None:
    base_dir = tmp_path / name
    base_dir.mkdir()
    (base_dir / "image.yaml").write_text(text)
    store.tag(f"{name}:1", build_spec(store, load_spec(base_dir / "image.yaml")))


def test_docker_config_keys_merge_with_the_base(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    _base_with(store, tmp_path, "b", "expose: [80]\nvolumes: [/base]\nstopsignal: SIGTERM\n")
    spec = tmp_path / "image.yaml"
    spec.write_text(
        "base: b:1\nexpose: [8080]\nvolumes: [/data]\nstopsignal: SIGINT\n"
        "healthcheck: {test: [/app, health], interval: 10s}\n"
    )
    image = store.load_image(build_spec(store, load_spec(spec)).digest)
    data = image.config.config.to_dict()
    assert data["ExposedPorts"] == {"80/tcp": {}, "8080/tcp": {}}
    assert data["Volumes"] == {"/base": {}, "/data": {}}
    assert data["StopSignal"] == "SIGINT"
    assert data["Healthcheck"] == {"Test": ["CMD", "/app", "health"], "Interval": 10**10}


def test_cmd_on_a_debug_shell_base_warns(tmp_path: Path) -> None:
    from distroless.reporter import RecordingReporter

    store = Store(tmp_path / "store")
    _base_with(store, tmp_path, "dbg", 'entrypoint: ["/busybox/sh"]\n')
    spec = tmp_path / "image.yaml"
    spec.write_text('base: dbg:1\ncmd: ["/app"]\n')
    reporter = RecordingReporter()
    image = store.load_image(build_spec(store, load_spec(spec), reporter=reporter).digest)
    assert image.config.config.entrypoint == ("/busybox/sh",)  # kept: the spec set only cmd
    warnings = [d["message"] for k, d in reporter.events if k == "warning"]
    assert len(warnings) == 1 and "/busybox/sh" in warnings[0] and "entrypoint" in warnings[0]
    spec.write_text('base: dbg:1\nentrypoint: ["/app"]\n')
    quiet = RecordingReporter()
    build_spec(store, load_spec(spec), reporter=quiet)
    assert "warning" not in quiet.kinds()
