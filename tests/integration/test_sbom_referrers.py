"""Attached SBOMs pushed as OCI referrers to the reference registry (no referrers API there).

The registry of the tests (docker-registry) answers ``/v2/<name>/referrers/<digest>`` with
404, so push must use the spec's fallback: an image index tagged ``sha256-<hex>`` listing
the artifacts.  skopeo, an independent client, reads that index back.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from distroless.errors import RegistryError
from distroless.oci import mediatypes as mt
from distroless.store import Store
from distroless.transports.registry import Registries, RetryPolicy, push
from distroless.verify.attach import attach_sbom, attached_sbom
from tests.helpers import Cli, Registry, skopeo_inspect
from tests.verify.test_attach import SPDX_SCHEMA, build

FAST = RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0)
HELLO = b"hello from the spec\n"
MOTD = "hi there\n"


def spec_image(cli: Cli, tmp_path: Path, *extra: str) -> str:
    """Build a scratch spec with two files (one copied, one inline); returns its digest."""
    (tmp_path / "hello.txt").write_bytes(HELLO)
    spec = tmp_path / "image.yaml"
    spec.write_text(
        "base: scratch\n"
        "files:\n"
        "  - {dst: /app/hello.txt, src: hello.txt}\n"
        f"  - {{dst: /etc/motd, content: {json.dumps(MOTD)}}}\n"
        "  - {dst: /app/link, symlink: hello.txt}\n"
    )
    result = cli("build", "--spec", spec, "-t", "sbom/app:v1", "-q", *extra).check()
    return result.stdout.strip()


def raw(ref: str) -> dict[str, Any]:
    data = skopeo_inspect(f"docker://{ref}", "--tls-verify=false", raw=True)
    assert isinstance(data, dict)
    return data


def manifest_status(registry: Registry, repo: str, ref: str) -> int:
    """HEAD a manifest accepting OCI types (without them this registry says 404 to OCI ones)."""
    request = urllib.request.Request(
        f"{registry.base_url}/v2/{repo}/manifests/{ref}",
        method="HEAD",
        headers={"Accept": f"{mt.OCI_MANIFEST}, {mt.OCI_INDEX}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def blob(registry: Registry, repo: str, digest: str) -> bytes:
    status, body = registry.get(f"/v2/{repo}/blobs/{digest}")
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == digest.removeprefix("sha256:")
    return body


def test_spec_build_sbom_goes_up_under_the_fallback_tag(
    cli: Cli, registry: Registry, tmp_path: Path, store_root: Path
) -> None:
    digest = spec_image(cli, tmp_path)
    repo = "it-sbom/spec"
    pushed = cli("push", "sbom/app:v1", registry.ref(repo, "v1"), "--json").check().json()
    assert isinstance(pushed, dict) and pushed["referrers"] == 1
    status, _ = registry.get(f"/v2/{repo}/referrers/{digest}")
    assert status == 404  # this registry has no referrers API: the fallback is needed

    index = raw(registry.ref(repo, "sha256-" + digest.removeprefix("sha256:")))
    assert index["mediaType"] == mt.OCI_INDEX
    (entry,) = index["manifests"]
    assert entry["artifactType"] == "application/spdx+json"
    assert entry["mediaType"] == mt.OCI_MANIFEST
    assert "org.opencontainers.image.created" in entry["annotations"]

    artifact = raw(f"{registry.url}/{repo}@{entry['digest']}")
    assert artifact["subject"]["digest"] == digest
    assert artifact["artifactType"] == "application/spdx+json"
    assert blob(registry, repo, artifact["config"]["digest"]) == b"{}"
    sbom = blob(registry, repo, artifact["layers"][0]["digest"])
    assert sbom == attached_sbom(Store(store_root), digest, "spdx-json")
    doc = json.loads(sbom)
    jsonschema.validate(doc, json.loads(SPDX_SCHEMA.read_text()))
    files = {
        f["fileName"]: {c["algorithm"]: c["checksumValue"] for c in f["checksums"]}
        for f in doc["files"]
    }
    assert files == {
        "./app/hello.txt": {
            "SHA1": hashlib.sha1(HELLO).hexdigest(),
            "SHA256": hashlib.sha256(HELLO).hexdigest(),
        },
        "./etc/motd": {
            "SHA1": hashlib.sha1(MOTD.encode()).hexdigest(),
            "SHA256": hashlib.sha256(MOTD.encode()).hexdigest(),
        },
    }
    # the image itself is intact and tagged
    assert raw(registry.ref(repo, "v1"))["layers"]


def test_sbom_command_prints_the_attached_document(
    cli: Cli, tmp_path: Path, store_root: Path
) -> None:
    digest = spec_image(cli, tmp_path)
    printed = cli("sbom", "sbom/app:v1").check().stdout.encode()
    assert printed == attached_sbom(Store(store_root), digest, "spdx-json")


def test_no_sbom_build_and_no_referrers_push_leave_no_fallback_tag(
    cli: Cli, registry: Registry, tmp_path: Path
) -> None:
    digest = spec_image(cli, tmp_path, "--no-sbom")
    repo = "it-sbom/none"
    cli("push", "sbom/app:v1", registry.ref(repo, "v1")).check()
    assert manifest_status(registry, repo, "v1") == 200
    assert manifest_status(registry, repo, "sha256-" + digest.removeprefix("sha256:")) == 404

    digest = spec_image(cli, tmp_path)  # now with its SBOM, pushed without it
    repo = "it-sbom/skipped"
    pushed = cli("push", "--no-referrers", "sbom/app:v1", registry.ref(repo, "v1"), "--json")
    assert isinstance(pushed.check().json(), dict)
    assert manifest_status(registry, repo, "v1") == 200
    assert manifest_status(registry, repo, "sha256-" + digest.removeprefix("sha256:")) == 404


def test_fallback_index_is_merged_not_replaced(registry: Registry, tmp_path: Path) -> None:
    image = build(tmp_path)
    store = Store(tmp_path)
    (spdx,) = attach_sbom(store, image)
    ref = registry.ref("it-sbom/merge", "v1")
    fallback = registry.ref("it-sbom/merge", "sha256-" + image.digest.removeprefix("sha256:"))
    with Registries(retry=FAST) as regs:
        assert push(store, "example/app:v1", ref, registries=regs).referrers == 1
        first = raw(fallback)
        assert push(store, "example/app:v1", ref, registries=regs).referrers == 1
        assert raw(fallback) == first  # pushed again: no duplicate entry
        (cdx,) = attach_sbom(store, image, fmt="cyclonedx-json")
        assert push(store, "example/app:v1", ref, registries=regs).referrers == 2
    listed = {m["digest"]: m["artifactType"] for m in raw(fallback)["manifests"]}
    assert listed == {
        spdx.digest: "application/spdx+json",
        cdx.digest: "application/vnd.cyclonedx+json",
    }
    assert raw(fallback)["manifests"][0] == first["manifests"][0]  # the old entry stays first


def test_a_fallback_tag_holding_an_image_is_not_overwritten(
    registry: Registry, tmp_path: Path
) -> None:
    image = build(tmp_path)
    store = Store(tmp_path)
    attach_sbom(store, image)
    repo = "it-sbom/foreign"
    fallback = registry.ref(repo, "sha256-" + image.digest.removeprefix("sha256:"))
    with Registries(retry=FAST) as regs:
        push(store, "example/app:v1", fallback, registries=regs, referrers=False)
        with pytest.raises(RegistryError, match="not the image index of referrers"):
            push(store, "example/app:v1", registry.ref(repo, "v1"), registries=regs)
    assert raw(fallback)["mediaType"] == mt.OCI_MANIFEST  # left as it was
    assert manifest_status(registry, repo, "v1") == 404  # the tag goes last: never pushed
