from __future__ import annotations

import io
import json

import pytest

from distroless.errors import ArchiveError, InputError, IntegrityError, ReferenceFormatError
from distroless.oci import mediatypes as mt
from distroless.oci.canonical import dumps
from distroless.oci.digest import HashingReader, parse_digest, sha256_bytes
from distroless.oci.models import (
    ContainerConfig,
    Descriptor,
    HistoryEntry,
    ImageConfig,
    Index,
    Manifest,
    Platform,
)

D1 = sha256_bytes(b"one")
D2 = sha256_bytes(b"two")


def test_digest_validation() -> None:
    assert parse_digest(D1) == D1
    with pytest.raises(ReferenceFormatError, match="unsupported digest algorithm 'sha512'"):
        parse_digest("sha512:" + "a" * 128)
    with pytest.raises(ReferenceFormatError, match="invalid digest"):
        parse_digest("sha256:XYZ")


def test_hashing_reader_verifies() -> None:
    reader = HashingReader(io.BytesIO(b"one"))
    assert reader.read() == b"one"
    reader.verify(D1, "blob")
    with pytest.raises(IntegrityError, match="blob: digest mismatch"):
        reader.verify(D2, "blob")


def test_canonical_json_is_sorted_and_compact() -> None:
    assert dumps({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == b'{"a":[1,{"c":3,"d":2}],"b":1}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("arm64", Platform("linux", "arm64")),
        ("linux/arm64/v8", Platform("linux", "arm64")),
        ("linux/arm/v7", Platform("linux", "arm", "v7")),
        ("linux/x86_64", Platform("linux", "amd64")),
    ],
)
def test_platform_parse(text: str, expected: Platform) -> None:
    assert Platform.parse(text) == expected


def test_platform_parse_rejects() -> None:
    with pytest.raises(InputError, match="invalid platform"):
        Platform.parse("linux//")


def test_manifest_round_trip_and_descriptor() -> None:
    config = Descriptor(mt.OCI_CONFIG, D1, 3)
    layer = Descriptor(mt.OCI_LAYER_GZIP, D2, 3)
    manifest = Manifest(config, (layer,), annotations={"k": "v"})
    data = manifest.to_bytes()
    assert Manifest.from_bytes(data) == manifest
    desc = manifest.descriptor(Platform("linux", "arm64"))
    assert desc.digest == sha256_bytes(data)
    assert desc.size == len(data)
    assert json.loads(data)["schemaVersion"] == 2


def test_index_platform_lookup() -> None:
    amd = Descriptor(mt.OCI_MANIFEST, D1, 1, platform=Platform("linux", "amd64"))
    arm = Descriptor(mt.OCI_MANIFEST, D2, 1, platform=Platform("linux", "arm64", "v8"))
    index = Index((amd, arm))
    assert index.for_platform(Platform("linux", "arm64")) == arm
    assert index.for_platform(Platform("linux", "s390x")) is None
    assert Index.from_bytes(index.to_bytes()) == index


def test_image_config_keeps_unknown_fields() -> None:
    raw = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["A=1"], "Cmd": ["/x"], "ArgsEscaped": True},
        "rootfs": {"type": "layers", "diff_ids": [D1]},
        "history": [{"created_by": "x", "empty_layer": True}],
        "docker_version": "1",
    }
    config = ImageConfig.from_dict(raw)
    assert config.config.cmd == ("/x",)
    assert config.history == (HistoryEntry(created_by="x", empty_layer=True),)
    again = json.loads(config.to_bytes())
    assert again["docker_version"] == "1"
    assert again["config"]["ArgsEscaped"] is True


def test_image_config_rejects_bad_diff_id() -> None:
    with pytest.raises(ArchiveError, match="image config"):
        ImageConfig.from_dict({"rootfs": {"diff_ids": ["nope"]}})


def test_env_update_keeps_order() -> None:
    cc = ContainerConfig(env=("PATH=/bin", "A=1")).with_env(A="2", B="3")
    assert cc.env == ("PATH=/bin", "A=2", "B=3")


def test_descriptor_rejects_garbage() -> None:
    with pytest.raises(ArchiveError, match="invalid descriptor"):
        Descriptor.from_dict({"mediaType": "x", "digest": "bad", "size": 1})


def test_lone_surrogates_read_as_the_replacement_character() -> None:
    """As Go's decoder reads them, so a config that escapes half a pair can be written again."""
    raw = (
        b'{"architecture": "amd64\\udfff", "config": {"Labels": {"k\\ud800": "\\ud83d\\ude00'
        b' \\udc00"}, "Env": ["A=\\ud800"]}, "rootfs": {"diff_ids": []}}'
    )
    config = ImageConfig.from_bytes(raw)
    assert config.architecture == "amd64\ufffd"
    assert config.config.labels == {"k\ufffd": "\U0001f600 \ufffd"}
    assert config.config.env == ("A=\ufffd",)
    assert json.loads(config.to_bytes())["config"]["Env"] == ["A=\ufffd"]
