"""SLSA v1 provenance: the statement's shape, determinism, and secrets kept out."""

from __future__ import annotations

import json

import pytest

from distroless import __version__
from distroless.errors import BuildError
from distroless.sign import provenance as pv

IMG = "sha256:" + "aa" * 32
BASE = "sha256:" + "bb" * 32
BUILDER = "sha256:" + "cc" * 32
DOCKERFILE = "sha256:" + "dd" * 32
CONTEXT = "sha256:" + "ee" * 32
LOCK = "sha256:" + "ff" * 32


def _statement(
    build_args: dict[str, str] | None = None, secrets: dict[str, bytes] | None = None
) -> bytes:
    params = pv.BuildParameters(
        source_kind="dockerfile",
        source_path="Dockerfile",
        source_digest=DOCKERFILE,
        platform="linux/amd64",
        context_digest=CONTEXT,
        build_args=build_args or {"VERSION": "1.2"},
    )
    deps = [
        pv.image_dependency("docker.io/library/golang:1.22", BUILDER, stage="build"),
        pv.image_dependency(
            "127.0.0.1:5000/distroless/static:nonroot", BASE, platform="linux/amd64"
        ),
        pv.image_dependency("docker.io/library/golang:1.22", BUILDER, role="copy-from"),
        pv.lock_dependency("image.lock.json", LOCK),
    ]
    return pv.provenance_statement(
        [pv.Subject("127.0.0.1:5000/app", IMG)],
        params,
        deps,
        source_date_epoch=1700000000,
        secrets=secrets,
    )


def test_statement_shape() -> None:
    doc = json.loads(_statement())
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1"
    assert doc["subject"] == [{"name": "127.0.0.1:5000/app", "digest": {"sha256": "aa" * 32}}]
    build = doc["predicate"]["buildDefinition"]
    assert build["buildType"] == pv.BUILD_TYPE
    assert build["externalParameters"] == {
        "source": {"kind": "dockerfile", "path": "Dockerfile", "digest": {"sha256": "dd" * 32}},
        "context": {"digest": {"sha256": "ee" * 32}},
        "buildArgs": {"VERSION": "1.2"},
        "platform": "linux/amd64",
    }
    deps = build["resolvedDependencies"]
    assert deps[0] == {
        "uri": "pkg:docker/docker.io/library/golang@1.22",
        "digest": {"sha256": "cc" * 32},
        "name": "docker.io/library/golang:1.22",
        "annotations": {"role": "base", "stage": "build"},
    }
    assert deps[1]["uri"] == (
        "pkg:docker/127.0.0.1%3A5000/distroless/static@nonroot?platform=linux%2Famd64"
    )
    assert deps[2]["annotations"] == {"role": "copy-from"}
    assert deps[3] == {
        "uri": "file:image.lock.json",
        "digest": {"sha256": "ff" * 32},
        "name": "image.lock.json",
        "annotations": {"role": "lock"},
    }
    run = doc["predicate"]["runDetails"]
    assert run["builder"] == {"id": pv.BUILDER_ID, "version": {"distroless": __version__}}
    assert run["metadata"] == {
        "startedOn": "2023-11-14T22:13:20Z",
        "finishedOn": "2023-11-14T22:13:20Z",
    }


def test_deterministic_and_canonical() -> None:
    one = _statement()
    assert one == _statement()
    assert one == json.dumps(json.loads(one), sort_keys=True, separators=(",", ":")).encode()
    assert _statement({"VERSION": "1.3"}) != one


def test_duplicate_dependencies_once_order_kept() -> None:
    dep = pv.image_dependency("a:1", BASE)
    pred = pv.provenance_predicate(
        pv.BuildParameters("spec", "image.yaml", DOCKERFILE, "linux/arm64"),
        [dep, pv.lock_dependency("l", LOCK), dep],
        source_date_epoch=0,
    )
    deps = pred["buildDefinition"]["resolvedDependencies"]
    assert [d["name"] for d in deps] == ["a:1", "l"]
    assert "context" not in pred["buildDefinition"]["externalParameters"]


def test_a_secret_in_a_build_arg_stops_it() -> None:
    secret = b"hunter2-very-secret\n"  # as read from a file, newline and all
    with pytest.raises(BuildError, match=r"secret 'token' \(in predicate.buildDefinition"):
        _statement({"TOKEN": "hunter2-very-secret"}, secrets={"token": secret})
    with pytest.raises(BuildError, match="buildArgs.URL"):
        _statement({"URL": "https://user:hunter2-very-secret@host/"}, secrets={"token": secret})
    # a secret the build args do not carry is fine, and appears nowhere
    ok = _statement(secrets={"token": secret})
    assert b"hunter2" not in ok


def test_short_secrets_only_match_whole_values() -> None:
    with pytest.raises(BuildError):
        _statement({"PIN": "42"}, secrets={"pin": b"42"})
    _statement({"VERSION": "1.2"}, secrets={"pin": b"1."})  # "1." is inside "1.2": not a leak


def test_bad_digests_are_programming_errors() -> None:
    with pytest.raises(ValueError):
        pv.Subject("x", "latest").to_dict()
    with pytest.raises(ValueError):
        pv.statement([], pv.PREDICATE_TYPE, {})
