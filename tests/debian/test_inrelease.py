from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pysequoia
import pytest

from distroless.debian.inrelease import load_inrelease, parse_release, verify_inrelease
from distroless.debian.keyring import Keyring, load_keyring
from distroless.errors import IntegrityError
from tests.debian.archive_fakes import new_key

HASH = "a" * 64
RELEASE = (
    "Origin: Test\nSuite: stable\nCodename: trixie\n"
    "Date: Sat, 01 Nov 2025 10:00:00 UTC\nValid-Until: Sat, 08 Nov 2025 10:00:00 UTC\n"
    "Acquire-By-Hash: yes\nArchitectures: amd64 arm64\nComponents: main contrib\n"
    f"SHA256:\n {HASH} 1234 main/binary-amd64/Packages.xz\n"
    f" {HASH}    99 main/binary-amd64/Packages\n"
)
BEFORE = datetime(2025, 11, 2, tzinfo=UTC)
AFTER = datetime(2025, 11, 9, tzinfo=UTC)


def signed(key: pysequoia.Tsk, text: str) -> bytes:
    return bytes(pysequoia.sign(key.signer(), text.encode(), mode=pysequoia.SignatureMode.CLEAR))


@pytest.fixture
def key(tmp_path: Path) -> tuple[pysequoia.Tsk, Keyring]:
    tsk, keyfile = new_key(tmp_path)
    return tsk, load_keyring([keyfile])


def test_parse_release() -> None:
    release = parse_release(RELEASE, name="Release", sha256="f" * 64)
    assert release.codename == "trixie"
    assert release.date == datetime(2025, 11, 1, 10, tzinfo=UTC)
    assert release.valid_until == datetime(2025, 11, 8, 10, tzinfo=UTC)
    assert release.architectures == ("amd64", "arm64")
    assert release.acquire_by_hash
    entry = release.files["main/binary-amd64/Packages.xz"]
    assert (entry.size, entry.sha256) == (1234, HASH)
    assert release.files["main/binary-amd64/Packages"].size == 99


def test_good_signature(key: tuple[pysequoia.Tsk, Keyring]) -> None:
    tsk, keyring = key
    release = load_inrelease(signed(tsk, RELEASE), keyring, name="InRelease", now=BEFORE)
    assert release.suite == "stable"
    assert len(release.sha256) == 64


def test_tampered_text_is_refused(key: tuple[pysequoia.Tsk, Keyring]) -> None:
    tsk, keyring = key
    data = signed(tsk, RELEASE).replace(b"1234", b"1235")
    with pytest.raises(IntegrityError, match="dists/x/InRelease: signature does not verify"):
        verify_inrelease(data, keyring, name="dists/x/InRelease")


def test_unknown_key_is_refused(tmp_path: Path, key: tuple[pysequoia.Tsk, Keyring]) -> None:
    _tsk, keyring = key
    stranger, _ = new_key(tmp_path, "stranger")
    with pytest.raises(IntegrityError, match="InRelease"):
        verify_inrelease(signed(stranger, RELEASE), keyring, name="InRelease")


def test_unsigned_is_refused(key: tuple[pysequoia.Tsk, Keyring]) -> None:
    with pytest.raises(IntegrityError, match="not a clearsigned"):
        verify_inrelease(RELEASE.encode(), key[1], name="InRelease")


def test_text_outside_the_signature_is_ignored(key: tuple[pysequoia.Tsk, Keyring]) -> None:
    tsk, keyring = key
    data = signed(tsk, RELEASE)
    text = verify_inrelease(data + b"\nSHA256:\n evil\n", keyring, name="InRelease")
    assert b"evil" not in text


def test_expired_release_is_refused(key: tuple[pysequoia.Tsk, Keyring]) -> None:
    tsk, keyring = key
    with pytest.raises(IntegrityError, match="InRelease: Release expired"):
        load_inrelease(signed(tsk, RELEASE), keyring, name="InRelease", now=AFTER)


def test_release_without_checksums_is_refused(key: tuple[pysequoia.Tsk, Keyring]) -> None:
    tsk, keyring = key
    text = "Origin: Test\nDate: Sat, 01 Nov 2025 10:00:00 UTC\n"
    with pytest.raises(IntegrityError, match="no SHA256"):
        load_inrelease(signed(tsk, text), keyring, name="InRelease", now=BEFORE)


@pytest.mark.skipif(shutil.which("gpgv") is None, reason="gpgv is not installed")
def test_gpgv_fallback(tmp_path: Path) -> None:
    tsk, _ = new_key(tmp_path)
    binary = tmp_path / "archive.gpg"
    binary.write_bytes(bytes(tsk.extract_certificate()))
    keyring = Keyring((), (binary,))  # no pysequoia certificates: gpgv is used
    text = verify_inrelease(signed(tsk, RELEASE), keyring, name="InRelease")
    assert text.startswith(b"Origin: Test")
    stranger, _ = new_key(tmp_path, "stranger")
    with pytest.raises(IntegrityError, match="InRelease: signature does not verify"):
        verify_inrelease(signed(stranger, RELEASE), keyring, name="InRelease")
