from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from distroless.debian.fetch import DebRef, deb_cache_path, fetch_debs, make_client
from distroless.errors import IntegrityError, NotFoundError
from distroless.reporter import RecordingReporter
from tests.debian.archive_fakes import Mirror, build_deb, listing, serve
from tests.helpers.proc import wait_until


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "mirror"
    for i in range(6):
        build_deb(root / f"pool/p{i}.deb", f"p{i}", {"./etc/": None, "./etc/f": bytes([i]) * 3000})
    with serve(root) as served:
        yield served


def ref_for(mirror: Mirror, name: str) -> DebRef:
    data = (mirror.server.root / "pool" / f"{name}.deb").read_bytes()
    return DebRef(
        f"{mirror.url}/pool/{name}.deb", hashlib.sha256(data).hexdigest(), len(data), name
    )


def test_download_then_second_run_downloads_nothing(mirror: Mirror, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    refs = [ref_for(mirror, f"p{i}") for i in range(6)]
    reporter = RecordingReporter()
    paths = fetch_debs(refs, cache, reporter=reporter)
    assert set(paths) == {r.sha256 for r in refs}
    for ref in refs:
        path = deb_cache_path(cache, ref.sha256)
        assert paths[ref.sha256] == path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == ref.sha256
    first = sum(mirror.requests.values())
    assert first == 6
    fetch_debs(refs, cache, reporter=reporter)
    assert sum(mirror.requests.values()) == first
    assert reporter.kinds().count("deb-cached") == 6
    assert not list(cache.rglob("*.partial"))


def test_tampered_deb_is_refused_and_cache_unchanged(mirror: Mirror, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fetch_debs([ref_for(mirror, "p0")], cache)
    before = listing(cache)
    ref = ref_for(mirror, "p1")
    deb = mirror.server.root / "pool/p1.deb"
    data = bytearray(deb.read_bytes())
    data[-10] ^= 0xFF
    deb.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"p1: sha256 mismatch"):
        fetch_debs([ref], cache)
    assert listing(cache) == before


def test_oversized_deb_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ref = ref_for(mirror, "p2")
    small = DebRef(ref.url, ref.sha256, ref.size - 100, "p2")
    with pytest.raises(IntegrityError, match="p2: larger than"):
        fetch_debs([small], cache)
    assert not list(cache.rglob("*.deb*"))


def test_resume_from_partial_uses_range(mirror: Mirror, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ref = ref_for(mirror, "p3")
    data = (mirror.server.root / "pool/p3.deb").read_bytes()
    final = deb_cache_path(cache, ref.sha256)
    final.parent.mkdir(parents=True)
    partial = final.with_name(final.name + ".partial")
    partial.write_bytes(data[:1000])
    with make_client() as client:
        fetch_debs([ref], cache, client=client)
    assert final.read_bytes() == data
    assert not partial.exists()


def test_resume_when_server_ignores_range(mirror: Mirror, tmp_path: Path) -> None:
    mirror.server.honour_range = False
    cache = tmp_path / "cache"
    ref = ref_for(mirror, "p4")
    data = (mirror.server.root / "pool/p4.deb").read_bytes()
    final = deb_cache_path(cache, ref.sha256)
    final.parent.mkdir(parents=True)
    final.with_name(final.name + ".partial").write_bytes(b"garbage!")
    fetch_debs([ref], cache)
    assert final.read_bytes() == data


@pytest.mark.parametrize("planted", ["link", "dangling-link"])
def test_a_link_planted_at_the_partial_name_is_never_written_through(
    mirror: Mirror, tmp_path: Path, planted: str
) -> None:
    cache = tmp_path / "cache"
    ref = ref_for(mirror, "p0")
    final = deb_cache_path(cache, ref.sha256)
    final.parent.mkdir(parents=True)
    decoy = tmp_path / "decoy"
    if planted == "link":
        decoy.write_bytes(b"decoy")
    final.with_name(final.name + ".partial").symlink_to(decoy)
    fetch_debs([ref], cache)
    assert final.read_bytes() == (mirror.server.root / "pool/p0.deb").read_bytes()
    if planted == "link":
        assert decoy.read_bytes() == b"decoy"
    else:
        assert not decoy.exists()


def test_corrupt_partial_is_discarded(mirror: Mirror, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ref = ref_for(mirror, "p5")
    final = deb_cache_path(cache, ref.sha256)
    final.parent.mkdir(parents=True)
    partial = final.with_name(final.name + ".partial")
    partial.write_bytes(b"x" * 10)  # wrong prefix: the resumed whole cannot verify
    with pytest.raises(IntegrityError, match="p5"):
        fetch_debs([ref], cache)
    assert not partial.exists()
    fetch_debs([ref], cache)  # the next run starts over and succeeds
    assert final.is_file()


def test_missing_deb(mirror: Mirror, tmp_path: Path) -> None:
    ref = DebRef(f"{mirror.url}/pool/nope.deb", "0" * 64, 10, "nope")
    with pytest.raises(NotFoundError, match="nope"):
        fetch_debs([ref], tmp_path / "cache")


def test_dropped_connection_resumes_with_range(mirror: Mirror, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    ref = ref_for(mirror, "p0")
    mirror.server.cut_once.add("/pool/p0.deb")
    paths = fetch_debs([ref], cache)
    assert hashlib.sha256(paths[ref.sha256].read_bytes()).hexdigest() == ref.sha256
    assert mirror.requests["/pool/p0.deb"] == 2
    assert mirror.server.ranges == [f"bytes={ref.size // 2}-"]


def _lock_waiters(path: Path) -> int:
    """How many flock waiters /proc/locks lists on ``path``'s inode (the ``->`` lines)."""
    st = path.stat()
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(1 for line in lines if "->" in line and line.split()[-3] == inode)


def test_a_deb_another_process_is_fetching_is_waited_for_not_fetched_again(
    mirror: Mirror, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    ref = ref_for(mirror, "p4")
    data = (mirror.server.root / "pool/p4.deb").read_bytes()
    final = deb_cache_path(cache, ref.sha256)
    final.parent.mkdir(parents=True)
    partial = final.with_name(final.name + ".partial")
    # "another process" holds the download: its own open file description of the .partial
    held = os.open(partial, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(held, fcntl.LOCK_EX)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(fetch_debs, [ref], cache)
        wait_until(lambda: _lock_waiters(partial) == 1, timeout=30, what="fetch to wait")
        os.write(held, data)
        os.replace(partial, final)  # the other one finishes and publishes
        fcntl.flock(held, fcntl.LOCK_UN)
        os.close(held)
        assert waiting.result(timeout=30) == {ref.sha256: final}
    assert sum(mirror.requests.values()) == 0
    assert final.read_bytes() == data
    assert not list(cache.rglob("*.partial"))


def test_two_fetches_of_the_same_debs_at_once_both_succeed(mirror: Mirror, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    refs = [ref_for(mirror, f"p{i}") for i in range(6)]
    with ThreadPoolExecutor(2) as pool:
        results = [f.result() for f in [pool.submit(fetch_debs, refs, cache) for _ in range(2)]]
    assert results[0] == results[1]
    assert sum(mirror.requests.values()) == 6
    assert not list(cache.rglob("*.partial"))
