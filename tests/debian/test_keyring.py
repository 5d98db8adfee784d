from __future__ import annotations

from pathlib import Path

import pytest

from distroless.debian.keyring import (
    bundled_keyring_paths,
    host_keyring_paths,
    load_keyring,
)
from distroless.errors import IntegrityError
from tests.debian.archive_fakes import new_key


def test_bundled_keys_cover_trixie_and_bookworm() -> None:
    names = {p.name for p in bundled_keyring_paths()}
    for release in ("trixie", "bookworm"):
        assert f"debian-archive-{release}-automatic.asc" in names
        assert f"debian-archive-{release}-security-automatic.asc" in names
        assert f"debian-archive-{release}-stable.asc" in names
    keyring = load_keyring(bundled_keyring_paths())
    assert len(keyring.certs) == len(names)


def test_fallback_to_bundled_keys_when_host_has_none(tmp_path: Path) -> None:
    assert host_keyring_paths(tmp_path) == []
    keyring = load_keyring(root=tmp_path)
    assert keyring.paths == tuple(bundled_keyring_paths())


def test_host_keyring_preferred(tmp_path: Path) -> None:
    _key, keyfile = new_key(tmp_path)
    trusted = tmp_path / "etc/apt/trusted.gpg.d"
    trusted.mkdir(parents=True)
    (trusted / "debian-archive-test.asc").write_bytes(keyfile.read_bytes())
    (trusted / "thirdparty.asc").write_bytes(keyfile.read_bytes())
    assert host_keyring_paths(tmp_path) == [trusted / "debian-archive-test.asc"]
    assert len(load_keyring(root=tmp_path).certs) == 1


def test_explicit_keyring(tmp_path: Path) -> None:
    _a, first = new_key(tmp_path, "a")
    _b, second = new_key(tmp_path, "b")
    keyring = load_keyring([first, second, first])
    assert len(keyring.certs) == 2
    assert str(first) in keyring.describe()


def test_unreadable_keyring_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gpg"
    bad.write_bytes(b"not a key")
    with pytest.raises(IntegrityError, match=r"bad\.gpg"):
        load_keyring([bad])
