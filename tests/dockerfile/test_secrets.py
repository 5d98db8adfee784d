from __future__ import annotations

from pathlib import Path

import pytest

from distroless.dockerfile.secrets import MAX_SECRET_BYTES, BuildSecret, load_secrets, parse_secret
from distroless.errors import UsageError


def test_file_env_and_implicit_sources(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_bytes(b"s3cr3t\n")
    env = {"API_KEY": "k-123", "GH": "g-456"}
    assert parse_secret(f"id=tok,src={token}", env) == BuildSecret("tok", b"s3cr3t\n")
    assert parse_secret(f"id=tok,source={token}", env).value == b"s3cr3t\n"
    assert parse_secret(f"type=file,id=tok,src={token}", env).value == b"s3cr3t\n"
    assert parse_secret("id=key,env=API_KEY", env).value == b"k-123"
    assert parse_secret("id=GH", env).value == b"g-456"  # the variable named like the id
    assert parse_secret("id=GH,type=env", env).value == b"g-456"


def test_the_value_stays_out_of_repr(tmp_path: Path) -> None:
    secret = parse_secret("id=key,env=API_KEY", {"API_KEY": "k-123"})
    assert "k-123" not in repr(secret)
    assert "k-123" not in repr({"key": secret})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("src=/x", "id=NAME is required"),
        ("id=a,src", "'src' is not KEY=VALUE"),
        ("id=a,colour=red", "unknown option 'colour'"),
        ("id=a,type=ssh", "type must be"),
        ("id=a,src=/x,env=Y", "not both"),
        ("id=NOPE", "give src=FILE or env=VAR"),
        ("id=a,env=NOPE", "variable NOPE is not set"),
        ("id=a,src=/no/such/file", "cannot read /no/such/file"),
    ],
)
def test_bad_specs_are_usage_errors(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_secret(spec, {})


def test_oversized_file_and_duplicate_ids(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * (MAX_SECRET_BYTES + 1))
    with pytest.raises(UsageError, match="more than the"):
        parse_secret(f"id=big,src={big}", {})
    with pytest.raises(UsageError, match="'a' is given more than once"):
        load_secrets(["id=a,env=V", "id=a,env=V"], {"V": "1"})
    assert set(load_secrets(["id=a,env=V", "id=b,env=V"], {"V": "1"})) == {"a", "b"}
