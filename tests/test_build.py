"""The library facade: spec and Dockerfile builds through ``build_image`` alone, no CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from distroless.assemble.spec_build import build_spec
from distroless.build import (
    BasesRequest,
    BuildOutcome,
    DockerfileRequest,
    SpecRequest,
    build_image,
)
from distroless.errors import NotFoundError, ReferenceFormatError, UsageError
from distroless.oci.models import Platform
from distroless.reporter import RecordingReporter
from distroless.spec import load_spec
from distroless.store import Store
from distroless.verify.attach import attached_sbom

AMD64 = Platform("linux", "amd64")
REPO = Path(__file__).resolve().parents[1]


def _spec(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "app").write_bytes(b"#!binary\n")
    spec = tmp_path / "image.yaml"
    spec.write_text(
        "files:\n  - {src: app, dst: /app, mode: 0755}\n"
        "  - {dst: /etc/motd, content: hi}\n"
        'entrypoint: ["/app"]\ntags: ["spec-own:1"]\n' + extra
    )
    return spec


def _context(tmp_path: Path, dockerfile: str) -> Path:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "hello.txt").write_text("hello\n")
    (context / "Dockerfile").write_text(dockerfile)
    return context


def _sbom_files(store: Store, outcome: BuildOutcome) -> dict[str, str]:
    data = attached_sbom(store, outcome.descriptor.digest)
    assert data is not None
    doc = json.loads(data)
    return {f["fileName"]: f["checksums"][0]["checksumValue"] for f in doc.get("files", [])}


def test_spec_request_builds_what_build_spec_builds_and_attaches_the_sbom(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    store = Store(tmp_path / "store")
    outcome = build_image(store, SpecRequest(spec, platforms=(AMD64,)))
    direct = build_spec(Store(tmp_path / "other"), load_spec(spec), platforms=[AMD64])
    assert outcome.descriptor == direct
    assert outcome.tags == ("spec-own:1",)  # no tags asked for: the spec's own
    assert store.resolve("spec-own:1").digest == direct.digest
    assert len(outcome.sboms) == 1 and outcome.dockerfile is None
    assert set(_sbom_files(store, outcome)) == {"./app", "./etc/motd"}


def test_spec_request_tags_replace_the_specs_and_sbom_can_be_off(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    request = SpecRequest(_spec(tmp_path), tags=("mine",), platforms=(AMD64,), sbom=False)
    outcome = build_image(store, request)
    assert outcome.tags == ("mine:latest",) and outcome.sboms == ()
    assert attached_sbom(store, outcome.descriptor.digest) is None
    assert [name for name, _ in store.refs()] == ["mine:latest"]


def test_dockerfile_request_builds_tags_and_attaches_the_sbom(tmp_path: Path) -> None:
    context = _context(tmp_path, 'FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/x"]\n')
    store = Store(tmp_path / "store")
    reporter = RecordingReporter()
    request = DockerfileRequest(context, tags=("app:1", "app:2"), platform=AMD64)
    outcome = build_image(store, request, reporter)
    assert outcome.tags == ("app:1", "app:2")
    assert store.resolve("app:2").digest == outcome.descriptor.digest
    assert outcome.dockerfile is not None and outcome.dockerfile.cached == ()
    assert "built" in reporter.kinds()
    assert list(_sbom_files(store, outcome)) == ["./hello.txt"]
    again = build_image(store, request)
    assert again.descriptor == outcome.descriptor and again.sboms == outcome.sboms
    assert again.dockerfile is not None and again.dockerfile.cached == ("stage-0:2",)  # COPY


def test_a_bad_request_fails_when_made_before_a_store_exists(tmp_path: Path) -> None:
    context = _context(tmp_path, "FROM scratch\n")
    with pytest.raises(UsageError, match="is not a directory"):
        DockerfileRequest(tmp_path / "missing")
    with pytest.raises(ReferenceFormatError):
        DockerfileRequest(context, tags=("Bad Name",))
    with pytest.raises(UsageError, match="unknown --allow 'network.all'"):
        DockerfileRequest(context, allow=frozenset({"network.all"}))
    with pytest.raises(ReferenceFormatError):
        SpecRequest(tmp_path / "image.yaml", tags=("UPPER:case",))
    with pytest.raises(UsageError, match="no base named 'stattic'"):
        BasesRequest(tmp_path / "cache", names=("stattic",))
    assert not (tmp_path / "store").exists()


def test_builder_requests_are_checked_before_anything_is_built(tmp_path: Path) -> None:
    BasesRequest(tmp_path / "cache", names=("builder-go", "static:nonroot"))
    BasesRequest(tmp_path / "cache", names=("builder-go:1.24-debian13",))
    with pytest.raises(NotFoundError, match="no builder named 'builder-rust'"):
        BasesRequest(tmp_path / "cache", names=("builder-rust",))
    # a builder is named by what it holds: a Docker Hub style tag is not one of its names
    with pytest.raises(
        NotFoundError, match=r"holds 1\.24; use distroless/builder-go:1\.24-debian13"
    ):
        BasesRequest(tmp_path / "cache", names=("builder-go:1.17",))
    with pytest.raises(UsageError, match="builders are made from debian13 only"):
        BasesRequest(tmp_path / "cache", names=("builder-go",), distro="debian12")
    assert not (tmp_path / "cache").exists()


def test_a_base_to_build_needs_a_package_cache(tmp_path: Path) -> None:
    context = _context(tmp_path, "FROM gcr.io/distroless/static\n")
    store = Store(tmp_path / "store")
    with pytest.raises(UsageError, match="gcr.io/distroless/static needs a package cache"):
        build_image(store, DockerfileRequest(context, platform=AMD64))
    spec = _spec(tmp_path, "packages: [tzdata]\n")
    with pytest.raises(UsageError, match="installing packages needs a package cache"):
        build_image(store, SpecRequest(spec, platforms=(AMD64,)))
    assert store.refs() == []


LAZY = """
import sys
from pathlib import Path
from distroless.build import DockerfileRequest, build_image
from distroless.store import Store

outcome = build_image(Store(Path(sys.argv[1])), DockerfileRequest(Path(sys.argv[2])))
assert outcome.dockerfile is not None and outcome.dockerfile.cached, "not cached"
heavy = ("distroless.debian.resolver", "distroless.debian.provider", "distroless.spec",
         "distroless.bases", "distroless.assemble.packages", "distroless.assemble.spec_build")
print(sorted(m for m in sys.modules if m.startswith(heavy)))
"""


def test_a_cached_dockerfile_build_loads_no_debian_spec_or_bases_module(tmp_path: Path) -> None:
    context = _context(tmp_path, "FROM scratch\nCOPY hello.txt /hello.txt\n")
    store = tmp_path / "store"
    build_image(Store(store), DockerfileRequest(context))
    script = tmp_path / "lazy.py"
    script.write_text(textwrap.dedent(LAZY))
    done = subprocess.run(
        [sys.executable, str(script), str(store), str(context)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _statement(store: Store, outcome: BuildOutcome) -> Any:
    assert outcome.provenance is not None
    manifest = store.read_manifest(outcome.provenance)
    return json.loads(store.read_blob(manifest.layers[0].digest))


def test_spec_provenance_names_the_spec_by_digest(tmp_path: Path) -> None:
    import hashlib

    spec = _spec(tmp_path)
    store = Store(tmp_path / "store")
    outcome = build_image(store, SpecRequest(spec, provenance=True))
    doc = _statement(store, outcome)
    assert doc["subject"] == [
        {"name": "docker.io/library/spec-own", "digest": {"sha256": outcome.descriptor.digest[7:]}}
    ]
    params = doc["predicate"]["buildDefinition"]["externalParameters"]
    assert params["source"] == {
        "kind": "spec",
        "path": "image.yaml",
        "digest": {"sha256": hashlib.sha256(spec.read_bytes()).hexdigest()},
    }
    assert build_image(store, SpecRequest(spec)).provenance is None


def test_dockerfile_provenance_names_copy_from_images_and_the_context(tmp_path: Path) -> None:
    from distroless.layers.entry import Entry
    from tests.helpers.images import store_image

    store = Store(tmp_path / "store")
    source = store_image(store, "tools:1", [[Entry.file("tool", b"t")]])
    context = _context(
        tmp_path, "FROM scratch\nCOPY --from=tools:1 /tool /tool\nCOPY hello.txt /\n"
    )
    request = DockerfileRequest(context, tags=("app:1",), build_args={"A": "1"}, provenance=True)

    def definition() -> Any:
        return _statement(store, build_image(store, request))["predicate"]["buildDefinition"]

    first = definition()
    (dep,) = first["resolvedDependencies"]
    assert dep == {
        "uri": "pkg:docker/docker.io/library/tools@1?platform=linux%2Famd64",
        "digest": {"sha256": source.digest[7:]},
        "name": "docker.io/library/tools:1",
        "annotations": {"role": "copy-from"},
    }
    assert first["externalParameters"]["buildArgs"] == {"A": "1"}
    assert definition() == first  # the same build, the same statement
    (context / "hello.txt").write_text("changed\n")
    changed = definition()
    assert changed["externalParameters"]["context"] != first["externalParameters"]["context"]


def test_a_copy_from_image_refused_by_policy_stops_the_build_untagged(tmp_path: Path) -> None:
    from distroless.errors import PolicyError
    from distroless.layers.entry import Entry
    from distroless.registry_config import UserConfig
    from tests.helpers.images import store_image

    store = Store(tmp_path / "store")
    store_image(store, "tools:1", [[Entry.file("tool", b"t")]])
    context = _context(tmp_path, "FROM scratch\nCOPY --from=tools:1 /tool /tool\n")
    config = UserConfig.from_dict({"policy": {"tools:*": {"digest-pinned": True}}})
    request = DockerfileRequest(context, tags=("app:1",), config=config)
    with pytest.raises(
        PolicyError, match=r"Dockerfile:2: image docker.io/library/tools:1 .* 'tools:\*'"
    ):
        build_image(store, request)
    assert [e.annotations.get("org.opencontainers.image.ref.name") for e in store.entries()] == [
        "tools:1"
    ]


def test_a_digest_pinned_copy_from_image_is_taken_from_the_store(tmp_path: Path) -> None:
    from distroless.layers.entry import Entry
    from distroless.registry_config import UserConfig
    from tests.helpers.images import store_image

    store = Store(tmp_path / "store")
    tools = store_image(store, "tools:1", [[Entry.file("tool", b"t")]])
    context = _context(tmp_path, f"FROM scratch\nCOPY --from=tools@{tools.digest} /tool /tool\n")
    config = UserConfig.from_dict({"policy": {"tools": {"digest-pinned": True}}})
    outcome = build_image(store, DockerfileRequest(context, config=config, provenance=True))
    (dep,) = _statement(store, outcome)["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert dep["digest"] == {"sha256": tools.digest[7:]}
    assert dep["name"] == f"docker.io/library/tools@{tools.digest}"


ARM64 = Platform("linux", "arm64")

#: a stage that runs on the build machine whatever the target, and one per target
MULTI = """\
FROM --platform=$BUILDPLATFORM scratch AS tools
COPY hello.txt /tool
FROM scratch
ARG TARGETPLATFORM TARGETARCH BUILDPLATFORM
LABEL target=$TARGETPLATFORM arch=$TARGETARCH build=$BUILDPLATFORM
COPY --from=tools /tool /tool
"""


@pytest.mark.parametrize("no_cache", [False, True])
def test_several_platforms_give_one_index_and_a_shared_stage_is_made_once(
    tmp_path: Path, no_cache: bool
) -> None:
    from distroless.oci import mediatypes as mt

    context = _context(tmp_path, MULTI)
    store = Store(tmp_path / "store")
    reporter = RecordingReporter()
    request = DockerfileRequest(
        context, tags=("app:1",), platforms=(ARM64, AMD64), no_cache=no_cache, provenance=True
    )
    outcome = build_image(store, request, reporter)
    assert mt.is_index(outcome.descriptor.media_type)
    assert store.resolve("app:1").digest == outcome.descriptor.digest
    assert store.platforms("app:1") == [AMD64, ARM64]  # ordered: stable digests
    host = str(Platform.host())
    for platform in (AMD64, ARM64):
        image = store.load_image("app:1", platform)
        assert image.config.platform == platform
        assert image.config.config.labels == {
            "target": str(platform), "arch": platform.architecture, "build": host,
        }  # fmt: skip
    arm, amd = outcome.platform_builds
    assert arm.config.platform == ARM64 and amd.config.platform == AMD64
    assert "tools:2" in arm.executed and "tools:2" in amd.cached  # the BUILDPLATFORM COPY
    assert len(outcome.sboms) == 2  # one per platform manifest
    assert [d for k, d in reporter.events if k == "platform-built"] == [
        {"platform": "linux/arm64", "digest": arm.descriptor.digest},
        {"platform": "linux/amd64", "digest": amd.descriptor.digest},
    ]
    statement = _statement(store, outcome)
    assert statement["subject"][0]["digest"]["sha256"] == outcome.descriptor.digest[7:]
    parameters = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert parameters["platform"] == "linux/arm64,linux/amd64"
    again = build_image(store, replace(request, platforms=(AMD64, ARM64)))
    assert again.descriptor == outcome.descriptor  # the same inputs, the same index


def test_one_platform_in_platforms_is_a_manifest_as_with_platform(tmp_path: Path) -> None:
    context = _context(tmp_path, MULTI)
    one = build_image(Store(tmp_path / "a"), DockerfileRequest(context, platforms=(ARM64,)))
    other = build_image(Store(tmp_path / "b"), DockerfileRequest(context, platform=ARM64))
    assert one.descriptor == other.descriptor and one.platform_builds == ()
    with pytest.raises(UsageError, match="platform or platforms, not both"):
        DockerfileRequest(context, platform=ARM64, platforms=(AMD64,))
