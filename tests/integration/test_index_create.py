"""``distroless index create`` against the reference registry, skopeo and the Docker engine.

Two fresh stores stand for two CI runners: each pushes the image of its own platform; the
index that joins them is made without a layer leaving the registry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from distroless.errors import InputError, NotFoundError
from distroless.oci import mediatypes as mt
from distroless.oci.models import Manifest
from distroless.store import Store
from distroless.transports.registry import Registries, RetryPolicy, push
from tests.helpers import (
    HELLO_LINE,
    DockerEngine,
    Registry,
    RegistryFactory,
    run_cli,
    skopeo_inspect,
)
from tests.transports.registry.support import Proxy, add_image, add_layer, start_proxy

FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)


@pytest.fixture
def proxy(registry: Registry) -> Iterator[Proxy]:
    p = start_proxy(registry.url)
    yield p
    p.stop()


def _runner_push(root: Path, arch: str, files: dict[str, bytes], ref: str) -> tuple[str, list[str]]:
    """A fresh store builds a one-layer image for ``arch`` and pushes it; returns its
    manifest digest and its layer digests."""
    store = Store(root)
    layer = add_layer(store, files, mode=0o755)
    image = add_image(store, arch, [layer])
    store.tag(f"app:{arch}", image)
    with Registries(retry=FAST) as regs:
        push(store, f"app:{arch}", ref, registries=regs)
    manifest = Manifest.from_bytes(store.read_blob(image.digest))
    return image.digest, [d.digest for d in manifest.layers]


def _one_line_error(result: object) -> str:
    stderr = getattr(result, "stderr", "")
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_two_runners_become_one_index_without_layer_downloads(
    registry: Registry,
    proxy: Proxy,
    docker_engine: DockerEngine,
    hello_go_binary: Path,
    tmp_path: Path,
) -> None:
    amd_ref = f"{proxy.host}/it/idx-amd64:v1"
    arm_ref = f"{proxy.host}/it/idx-arm64:v1"
    amd, amd_layers = _runner_push(
        tmp_path / "runner-a", "amd64", {"hello": hello_go_binary.read_bytes()}, amd_ref
    )
    arm, arm_layers = _runner_push(tmp_path / "runner-b", "arm64", {"hello": b"arm64"}, arm_ref)
    target = f"{proxy.host}/it/idx:v1"

    before = len(proxy.state.log)
    dry = run_cli("index", "create", "--dry-run", target, amd_ref, arm_ref, root=tmp_path / "c")
    planned = json.loads(dry.check().stdout)
    assert [m["digest"] for m in planned["manifests"]] == [amd, arm]
    assert not any(m == "PUT" for m, _ in proxy.state.log[before:])  # a dry run writes nothing

    made = run_cli("index", "create", "--json", target, amd_ref, arm_ref, root=tmp_path / "c")
    result = made.check().json()
    assert isinstance(result, dict)
    assert (result["mounted"], result["copied"]) == (4, 0)  # two configs, two layers
    assert result["mediaType"] == mt.OCI_INDEX
    log = proxy.state.log[before:]
    layer_gets = [p for m, p in log if m == "GET" and any(d in p for d in amd_layers + arm_layers)]
    assert layer_gets == []
    assert proxy.state.count("POST", "mount=") == 4

    raw = skopeo_inspect(f"docker://{registry.url}/it/idx:v1", "--tls-verify=false", raw=True)
    assert isinstance(raw, dict)
    assert raw["mediaType"] == mt.OCI_INDEX
    assert [(m["digest"], m["platform"]["architecture"]) for m in raw["manifests"]] == [
        (amd, "amd64"),
        (arm, "arm64"),
    ]
    assert raw == planned  # the dry run printed what was pushed

    pulled = f"{registry.url}/it/idx:v1"
    docker_engine.run("pull", pulled)
    inspected = json.loads(docker_engine.run("image", "inspect", pulled).stdout)
    assert inspected[0]["Architecture"] == "amd64"
    assert HELLO_LINE in docker_engine.run("run", "--rm", "--network", "none", pulled).stdout

    # the same sources give the same index
    again = run_cli("index", "create", "--json", target, amd_ref, arm_ref, root=tmp_path / "c")
    second = again.check().json()
    assert isinstance(second, dict)
    assert second["digest"] == result["digest"]
    assert second["present"] == 0 and second["mounted"] == 0  # children already there


def test_sources_on_another_registry_are_streamed_across(
    registry: Registry, registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    amd_ref = registry.ref("it/far-amd64", "v1")
    arm_ref = registry.ref("it/far-arm64", "v1")
    amd, _ = _runner_push(tmp_path / "a", "amd64", {"a": b"amd64 side"}, amd_ref)
    arm, _ = _runner_push(tmp_path / "b", "arm64", {"b": b"arm64 side"}, arm_ref)
    other = registry_factory()
    target = other.ref("it/joined", "v2")
    made = run_cli("index", "create", "--json", target, amd_ref, arm_ref, root=tmp_path / "c")
    result = made.check().json()
    assert isinstance(result, dict)
    assert (result["mounted"], result["copied"]) == (0, 4)
    raw = skopeo_inspect(f"docker://{target}", "--tls-verify=false", raw=True)
    assert isinstance(raw, dict)
    assert [m["digest"] for m in raw["manifests"]] == [amd, arm]
    for digest in (amd, arm):  # each child is complete in the new repository
        child = skopeo_inspect(f"docker://{other.url}/it/joined@{digest}", "--tls-verify=false")
        assert isinstance(child, dict)


def test_bad_sources_are_one_line_errors_and_push_nothing(
    registry: Registry, tmp_path: Path
) -> None:
    amd_ref = registry.ref("it/bad-amd64", "v1")
    also_ref = registry.ref("it/bad-amd64-too", "v1")
    _runner_push(tmp_path / "a", "amd64", {"a": b"one"}, amd_ref)
    _runner_push(tmp_path / "b", "amd64", {"b": b"two"}, also_ref)
    target = registry.ref("it/bad", "v1")
    root = tmp_path / "c"

    missing = run_cli(
        "index", "create", target, amd_ref, registry.ref("it/nothing", "v9"), root=root
    )
    assert missing.exit_code == NotFoundError.exit_code
    assert "it/nothing" in _one_line_error(missing)

    twice = run_cli("index", "create", target, amd_ref, also_ref, root=root)
    assert twice.exit_code == InputError.exit_code
    line = _one_line_error(twice)
    assert "linux/amd64" in line and "--platform" in line

    status, _ = registry.get("/v2/it/bad/manifests/v1")
    assert status == 404  # neither failure left a tag behind

    told = run_cli(
        "index", "create", "--dry-run", target, amd_ref, also_ref,
        "--platform", f"{amd_ref}=linux/amd64/v2", "--platform", f"{also_ref}=linux/amd64/v3",
        root=root,
    )  # fmt: skip
    variants = [m["platform"].get("variant") for m in json.loads(told.check().stdout)["manifests"]]
    assert variants == ["v2", "v3"]

    lying = run_cli(
        "index", "create", "--dry-run", target, amd_ref, "--platform", f"{amd_ref}=linux/arm64",
        root=root,
    )  # fmt: skip
    assert lying.exit_code == InputError.exit_code
    assert "linux/amd64" in _one_line_error(lying)
