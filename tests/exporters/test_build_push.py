"""``build --push`` and ``--output type=registry``, against the reference registry.

A pushed build carries SLSA provenance by default, as buildx's does, beside its SBOM; the
registry of the tests has no referrers API, so both are found through the fallback index
tagged ``sha256-<hex>``.  A build that does not push attaches none unless asked, and
``--provenance=false`` turns the default off.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from distroless.oci import mediatypes as mt
from distroless.store import Store
from tests.helpers import Cli, Registry
from tests.helpers.refusal import store_state

IN_TOTO = "application/vnd.in-toto+json"
SPDX = "application/spdx+json"


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("pushed\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a.txt /a.txt\n")
    return ctx


def _get(registry: Registry, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"{registry.base_url}{path}",
        headers={"Accept": f"{mt.OCI_MANIFEST}, {mt.OCI_INDEX}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def _manifest(registry: Registry, repo: str, ref: str) -> dict[str, Any]:
    status, body = _get(registry, f"/v2/{repo}/manifests/{ref}")
    assert status == 200, (repo, ref, status)
    data = json.loads(body)
    assert isinstance(data, dict)
    return data


def _blob(registry: Registry, repo: str, digest: str) -> bytes:
    status, body = registry.get(f"/v2/{repo}/blobs/{digest}")
    assert status == 200
    assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
    return body


def _local_types(cli: Cli, image: str) -> list[str]:
    listed = cli("referrers", image, "--json").check().json()
    assert isinstance(listed, dict)
    return [d["artifactType"] for d in listed["referrers"]]


def _pushed_referrers(registry: Registry, repo: str, digest: str) -> dict[str, dict[str, Any]]:
    """The artifacts the fallback index lists for ``digest``, by artifact type."""
    index = _manifest(registry, repo, "sha256-" + digest.removeprefix("sha256:"))
    return {entry["artifactType"]: entry for entry in index["manifests"]}


def _statement(registry: Registry, repo: str, entry: dict[str, Any]) -> dict[str, Any]:
    artifact = _manifest(registry, repo, entry["digest"])
    (layer,) = artifact["layers"]
    statement = json.loads(_blob(registry, repo, layer["digest"]))
    assert isinstance(statement, dict)
    return statement


def test_a_pushed_build_carries_provenance_by_default(
    cli: Cli, registry: Registry, context: Path
) -> None:
    repo = "build-push/default"
    ref = registry.ref(repo, "v1")
    result = cli("build", "--push", "-t", ref, "--json", context).check().json()
    assert isinstance(result, dict)
    digest = result["digest"]
    assert result["provenance"] is not None
    assert result["pushed"] == [{"reference": ref, "referrers": 2}]
    assert _manifest(registry, repo, "v1")["layers"]  # the tag names the image
    status, _ = _get(registry, f"/v2/{repo}/manifests/{digest}")
    assert status == 200
    found = _pushed_referrers(registry, repo, digest)
    assert set(found) == {IN_TOTO, SPDX}
    statement = _statement(registry, repo, found[IN_TOTO])
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert [s["digest"]["sha256"] for s in statement["subject"]] == [digest.removeprefix("sha256:")]
    # what went up is what the store attached
    local = cli("referrers", ref, "--json").check().json()
    assert isinstance(local, dict)
    assert found[IN_TOTO]["digest"] in {d["digest"] for d in local["referrers"]}
    # the human form names what was pushed
    again = cli("build", "--push", "-t", ref, context).check()
    assert again.stdout.splitlines()[-1] == f"Pushed {ref}: {digest}"


def test_without_push_there_is_no_provenance_unless_asked(cli: Cli, context: Path) -> None:
    result = cli("build", "-t", "local/app:1", "--json", context).check().json()
    assert isinstance(result, dict)
    assert result["provenance"] is None and result["pushed"] == []
    assert _local_types(cli, "local/app:1") == [SPDX]
    asked = cli("build", "--provenance=true", "-t", "local/app:1", "--json", context).check()
    assert asked.json()["provenance"] is not None  # type: ignore[index]


@pytest.mark.parametrize("flag", ["--provenance=false", "--no-provenance", "--provenance=0"])
def test_provenance_false_turns_the_push_default_off(
    cli: Cli, registry: Registry, context: Path, flag: str
) -> None:
    repo = f"build-push/off{flag.replace('=', '-').replace('--', '-')}"
    ref = registry.ref(repo, "v1")
    result = cli("build", "--push", flag, "-t", ref, "--json", context).check().json()
    assert isinstance(result, dict)
    assert result["provenance"] is None
    assert set(_pushed_referrers(registry, repo, result["digest"])) == {SPDX}
    assert _local_types(cli, ref) == [SPDX]


@pytest.mark.parametrize(
    ("form", "repo"),
    [("type=registry,name={ref}", "build-push/registry"),
     ("type=image,push=true,name={ref}", "build-push/image")],
)  # fmt: skip
def test_output_type_registry_pushes_to_its_name_with_provenance(
    cli: Cli, registry: Registry, context: Path, form: str, repo: str
) -> None:
    ref = registry.ref(repo, "v2")
    result = cli(
        "build", "-t", "local/app:1", "-o", form.format(ref=ref), "--json", context
    ).check().json()  # fmt: skip
    assert isinstance(result, dict)
    assert result["pushed"] == [{"reference": ref, "referrers": 2}]
    found = _pushed_referrers(registry, repo, result["digest"])
    assert set(found) == {IN_TOTO, SPDX}
    # the statement names the stored name and the repository it was pushed to
    names = [s["name"] for s in _statement(registry, repo, found[IN_TOTO])["subject"]]
    assert names == ["docker.io/local/app", ref.rpartition(":")[0]]
    status, _ = _get(registry, "/v2/local/app/manifests/1")
    assert status == 404  # the -t name stays in the store: name= says where it goes


def test_a_signed_image_pushed_by_build_carries_its_dsse_provenance(
    cli: Cli, registry: Registry, context: Path, tmp_path: Path
) -> None:
    env = {"DISTROLESS_KEY_PASSPHRASE": "pw", "COSIGN_PASSWORD": None}
    prefix = tmp_path / "release"
    cli("key", "generate", "--output-key-prefix", prefix, env=env).check()
    repo = "build-push/signed"
    ref = registry.ref(repo, "v1")
    cli(
        "build", "--push", "--provenance-key", f"{prefix}.key", "-t", ref, context, env=env
    ).check()  # fmt: skip
    found = _pushed_referrers(registry, repo, Store(cli.root).resolve(ref).digest)
    artifact = _manifest(registry, repo, found[IN_TOTO]["digest"])
    assert artifact["layers"][0]["mediaType"] == "application/vnd.dsse.envelope.v1+json"
    # pulled into another store, the statement verifies with the public key
    other = Cli(tmp_path / "other")
    other("pull", ref).check()
    printed = other("attestations", ref, "--key", f"{prefix}.pub").check().json()
    assert isinstance(printed, list) and len(printed) == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--push",), "pushing needs a name"),
        (("-o", "type=registry"), "pushing needs a name"),
        (("-o", "type=registry,name=a::b"), "cannot push to 'a::b'"),
        (("--provenance=maybe",), "invalid '--provenance=maybe'"),
        (("--push", "-t", "a:1", "--provenance=false", "--provenance-key", "k.key"),
         "--provenance-key signs the provenance"),
    ],
)  # fmt: skip
def test_bad_push_flags_are_refused_before_the_build(
    cli: Cli, context: Path, args: tuple[str, ...], fragment: str
) -> None:
    cli("images").check()
    before = store_state(cli.root)
    result = cli("build", *args, context)
    assert result.exit_code == 2, result.stderr
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert fragment in message, message
    assert store_state(cli.root) == before


def test_a_multi_platform_build_pushes_its_index_with_the_provenance_on_it(
    cli: Cli, registry: Registry, context: Path
) -> None:
    repo = "build-push/multi"
    ref = registry.ref(repo, "v1")
    result = cli(
        "build", "--push", "--platform", "linux/amd64,linux/arm64", "-t", ref, "--json", context
    ).check().json()  # fmt: skip
    assert isinstance(result, dict)
    index = _manifest(registry, repo, "v1")
    assert index["mediaType"] == mt.OCI_INDEX
    platforms = {m["platform"]["architecture"] for m in index["manifests"]}
    assert platforms == {"amd64", "arm64"}
    found = _pushed_referrers(registry, repo, result["digest"])
    statement = _statement(registry, repo, found[IN_TOTO])
    assert statement["subject"][0]["digest"]["sha256"] == result["digest"].removeprefix("sha256:")
    for entry in index["manifests"]:  # each platform's SBOM went up beside it
        assert set(_pushed_referrers(registry, repo, entry["digest"])) == {SPDX}


def test_a_spec_build_pushes_with_provenance_too(
    cli: Cli, registry: Registry, tmp_path: Path
) -> None:
    spec = tmp_path / "image.yaml"
    spec.write_text("base: scratch\nfiles:\n  - {dst: /etc/motd, content: hi}\n")
    repo = "build-push/spec"
    ref = registry.ref(repo, "v1")
    result = cli("build", "--spec", spec, "--push", "-t", ref, "--json").check().json()
    assert isinstance(result, dict)
    found = _pushed_referrers(registry, repo, result["digest"])
    assert set(found) == {IN_TOTO, SPDX}
    predicate = _statement(registry, repo, found[IN_TOTO])["predicate"]
    assert predicate["buildDefinition"]["externalParameters"]["source"]["path"] == "image.yaml"
