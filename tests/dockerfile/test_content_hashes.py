"""The content-hash records of build-context files: reused only while a file's whole
``lstat`` (size, mtime, ctime, inode, device) is what it was when it was hashed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from distroless.dockerfile import content_hashes
from distroless.dockerfile.content_hashes import ContentHashes
from distroless.dockerfile.context import BuildContext


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _digest_of(hashes: ContentHashes, path: Path, rel: str) -> str:
    return hashes.file_digest(rel, path, os.lstat(path))


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by the test count as older than the racy window."""
    monkeypatch.setattr(content_hashes, "RACY_NS", 0)


def _recorded(tmp_path: Path, data: bytes) -> tuple[Path, Path]:
    """A file of ``data`` hashed once, and the records file that build saved."""
    file = tmp_path / "f"
    file.write_bytes(data)
    records = tmp_path / "records.json"
    first = ContentHashes(records)
    assert _digest_of(first, file, "f") == _sha(data)
    first.save()
    return file, records


@pytest.mark.usefixtures("settled")
def test_a_recorded_digest_is_used_without_reading_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file, records = _recorded(tmp_path, b"content\n")

    def unreadable(path: Path) -> str:
        raise AssertionError(f"{path} was read again")

    monkeypatch.setattr(content_hashes, "_hash_file", unreadable)
    assert _digest_of(ContentHashes(records), file, "f") == _sha(b"content\n")


@pytest.mark.usefixtures("settled")
def test_a_byte_flipped_with_size_and_mtime_kept_is_hashed_again(tmp_path: Path) -> None:
    file, records = _recorded(tmp_path, b"before\n")
    st = os.stat(file)
    file.write_bytes(b"befor3\n")
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(file).st_size, os.stat(file).st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert _digest_of(ContentHashes(records), file, "f") == _sha(b"befor3\n")


def test_a_file_changed_within_the_racy_window_is_never_recorded(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_bytes(b"just written\n")
    records = tmp_path / "records.json"
    hashes = ContentHashes(records)
    assert _digest_of(hashes, file, "f") == _sha(b"just written\n")
    hashes.save()
    assert hashes.records == {} and not records.exists()


@pytest.mark.parametrize(
    "damage", [b"{not json", b"[]", b'{"f": [1, 2]}', b'{"f": ["a", 1, 1, 1, 1, "x"]}']
)
@pytest.mark.usefixtures("settled")
def test_damaged_records_are_an_empty_cache(tmp_path: Path, damage: bytes) -> None:
    file = tmp_path / "f"
    file.write_bytes(b"x\n")
    records = tmp_path / "records.json"
    records.write_bytes(damage)
    hashes = ContentHashes(records)
    assert hashes.records == {}
    assert _digest_of(hashes, file, "f") == _sha(b"x\n")


@pytest.mark.usefixtures("settled")
def test_the_context_digest_is_the_same_with_and_without_records(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    (context / "d").mkdir(parents=True)
    (context / "d" / "a").write_bytes(b"a\n")
    (context / "b").write_bytes(b"b\n")
    records = tmp_path / "records.json"
    plain = BuildContext(context)
    with_records = ContentHashes(records)
    cached = BuildContext(context, hashes=with_records)
    expected = plain.digest(plain.match(".", "test"))
    assert cached.digest(cached.match(".", "test")) == expected
    with_records.save()
    again = BuildContext(context, hashes=ContentHashes(records))
    assert again.digest(again.match(".", "test")) == expected


def test_a_store_keeps_one_record_file_per_context_directory(tmp_path: Path) -> None:
    one = ContentHashes.for_context(tmp_path / "store", tmp_path / "a")
    two = ContentHashes.for_context(tmp_path / "store", tmp_path / "b")
    assert one.path is not None and two.path is not None and one.path != two.path
    assert one.path.parent == tmp_path / "store" / "state" / "contenthash"


def test_without_the_stat_cache_nothing_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISTROLESS_NO_WARM", "1")
    assert ContentHashes.for_context(tmp_path / "store", tmp_path / "a").path is None
