"""Hostile text documents: cycles, deep nesting and wrong JSON types give clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distroless.debian.lockfile import Lockfile
from distroless.dockerfile import build_graph, expand, parse
from distroless.errors import ArchiveError, DockerfileError, LockfileError, SpecError
from distroless.oci.models import ImageConfig, Index, Manifest
from distroless.spec import parse_spec

SPEC = Path("/nonexistent/image.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("&a [1, *a]\n", "refers to its own anchor"),
        ("a: &x {b: *x}\n", "refers to its own anchor"),
        ("labels: &x {a: *x}\n", "refers to its own anchor"),
        ("[" * 5000 + "]" * 5000, "nests too deeply"),
        ("{a: " * 3000 + "1" + "}" * 3000, "nests too deeply"),
    ],
)
def test_spec_yaml_cycles_and_depth(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(text, SPEC)


def test_spec_billion_laughs_is_rejected_quickly() -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        levels.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 10)}]")
    for key in ("packages", "labels", "env", "files", "tags"):
        text = "\n".join([*levels, f"{key}: *i", ""])
        with pytest.raises(SpecError, match="unknown key 'a'|key"):
            parse_spec(text, SPEC)


def test_nested_substitution_is_an_error_not_a_crash() -> None:
    deep = "${a:-" * 5000 + "x" + "}" * 5000
    with pytest.raises(DockerfileError, match="nested too deeply"):
        expand(deep, {})
    dockerfile = parse(f"FROM scratch\nENV A={deep}\n")
    with pytest.raises(DockerfileError, match="nested too deeply"):
        build_graph(dockerfile)


def test_long_stage_chain_builds_a_graph() -> None:
    text = "FROM scratch AS s0\n" + "".join(f"FROM s{i - 1} AS s{i}\n" for i in range(1, 3000))
    graph = build_graph(parse(text))
    assert len(graph.order) == 3000
    assert graph.order[0].name == "s0"


def test_long_stage_cycle_is_named() -> None:
    text = "".join(f"FROM s{(i + 1) % 2000} AS s{i}\n" for i in range(2000))
    text += "FROM scratch\nCOPY --from=s0 / /\n"
    graph = build_graph(parse(text))  # FROM of a later stage names an image, not a stage
    assert graph.order[-1].index == 2000


def test_deep_json_cmd_is_shell_form_not_a_crash() -> None:
    dockerfile = parse("FROM scratch\nCMD " + "[" * 60_000 + "\n")  # a line stays under 64 KiB
    assert dockerfile.stages[0].instructions


def test_deep_json_lockfile() -> None:
    with pytest.raises(LockfileError, match="nests too deeply"):
        Lockfile.loads("[" * 100_000, "image.lock.json")


@pytest.mark.parametrize("model", [Manifest, Index, ImageConfig])
def test_deep_json_documents(model: type[Manifest | Index | ImageConfig]) -> None:
    with pytest.raises(ArchiveError, match="nests too deeply"):
        model.from_bytes(b"[" * 100_000)


D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "doc",
    [
        {"config": True},
        {"config": {"Env": "PATH=/bin"}},
        {"config": {"Entrypoint": {"a": 1}}},
        {"config": {"Labels": ["a"]}},
        {"config": {"Labels": {"a": {"b": 1}}}},
        {"config": {"ExposedPorts": ["80/tcp"]}},
        {"config": {"Healthcheck": "curl"}},
        {"rootfs": True},
        {"rootfs": {"diff_ids": "sha256:x"}},
        {"rootfs": {"diff_ids": [{"d": 1}]}},
        {"history": [1, 2]},
        {"history": True},
        {"variant": ["v8"]},
    ],
)
def test_image_config_wrong_types(doc: dict[str, object]) -> None:
    with pytest.raises(ArchiveError, match="image config|history"):
        ImageConfig.from_bytes(json.dumps(doc).encode())


@pytest.mark.parametrize(
    "desc",
    [
        {"mediaType": "m", "digest": D, "size": -1},
        {"mediaType": "m", "digest": D, "size": "12"},
        {"mediaType": "m", "digest": D, "size": True},
        {"mediaType": "m", "digest": D, "size": 1.5},
        {"mediaType": ["m"], "digest": D, "size": 1},
        {"mediaType": "m", "digest": D, "size": 1, "annotations": ["a"]},
        {"mediaType": "m", "digest": D, "size": 1, "platform": "linux/amd64"},
        {"mediaType": "m", "digest": D, "size": 1, "platform": {"os": {}}},
        {"mediaType": "m", "digest": D, "size": 1, "urls": "http://x"},
    ],
)
def test_descriptor_wrong_types(desc: dict[str, object]) -> None:
    with pytest.raises(ArchiveError, match="invalid descriptor"):
        Index.from_bytes(json.dumps({"manifests": [desc]}).encode())
    with pytest.raises(ArchiveError, match="invalid descriptor"):
        Manifest.from_bytes(json.dumps({"config": desc}).encode())


def test_huge_size_from_float_overflow() -> None:
    raw = b'{"manifests": [{"mediaType": "m", "digest": "%s", "size": 1e400}]}' % D.encode()
    with pytest.raises(ArchiveError, match="invalid descriptor"):
        Index.from_bytes(raw)
