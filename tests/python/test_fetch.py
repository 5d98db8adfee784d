"""A wheel appears in the package cache whole and verified, or not at all."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from distroless.errors import IntegrityError
from distroless.python.fetch import fetch_wheels, wheel_path
from distroless.python.resolve import LockedWheel

FILENAME = "demo-1.0-py3-none-any.whl"


def _wheel(tmp_path: Path, data: bytes, sha256: str | None = None) -> LockedWheel:
    source = tmp_path / "index" / FILENAME
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(data)
    digest = sha256 or hashlib.sha256(data).hexdigest()
    return LockedWheel("demo", "1.0", FILENAME, source.as_uri(), digest)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_fetched_wheel_lands_at_its_path_and_nothing_else(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    wheel = _wheel(tmp_path, b"wheel bytes")
    got = fetch_wheels(cache, [wheel])
    assert got == {wheel.sha256: wheel_path(cache, wheel)}
    assert got[wheel.sha256].read_bytes() == b"wheel bytes"
    assert got[wheel.sha256].stat().st_mode & 0o777 == 0o644
    assert _files(cache) == [f"wheels/sha256/{wheel.sha256}/{FILENAME}"]


def test_a_wheel_that_hashes_wrong_leaves_the_cache_without_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    wheel = _wheel(tmp_path, b"tampered", sha256="0" * 64)
    with pytest.raises(IntegrityError, match="sha256 mismatch.*the download was discarded"):
        fetch_wheels(cache, [wheel])
    assert _files(cache) == []
    # and a retry with the right bytes is not stopped by anything the failure left
    (tmp_path / "index" / FILENAME).write_bytes(b"tampered")
    right = _wheel(tmp_path, b"tampered")
    assert fetch_wheels(cache, [right])[right.sha256].read_bytes() == b"tampered"
