"""A Debian archive as the resolver sees it: verified suites and their Packages indices.

For each suite the small ``InRelease`` file is fetched every time and verified against the
keyring; the ``Packages`` index of an architecture is then downloaded (``.xz``, ``.gz``,
``.zst`` or plain, whichever the Release lists first in that order), checked against the
size and SHA256 the signed Release gives, and only then decompressed into the cache under
``<cache>/indices/sha256/<hex>``, keyed by the hash of the compressed file.  An index whose
hash is already cached is not downloaded again.  Nothing unverified ever becomes visible
in the cache: downloads go to temporary files that are removed on any failure.  The
resolver reads a cached index through the lookup table :mod:`distroless.debian.indexcache`
keeps beside it (``<hex>.idx``) rather than parsing the whole file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import httpx

from distroless.debian.deb822 import Paragraph, iter_paragraphs
from distroless.debian.fetch import CHUNK, DebRef, cache_write_error, download_verified, make_client
from distroless.debian.inrelease import IndexFile, Release, load_inrelease
from distroless.debian.keyring import Keyring, load_keyring
from distroless.debian.sources import SuiteSource
from distroless.errors import DebianError, IntegrityError, NotFoundError
from distroless.layers.compress import DECOMPRESS_ERRORS, Codec, open_decompressor
from distroless.reporter import NullReporter, Reporter, Task
from distroless.store.atomic import atomic_file

_NULL_REPORTER = NullReporter()

MAX_INRELEASE = 32 << 20
COMPRESSIONS = (".xz", ".gz", ".zst", "")


@dataclass(frozen=True)
class Suite:
    """A verified suite: where it lives and what its signed Release says."""

    mirror: str
    name: str
    release: Release

    @property
    def url(self) -> str:
        return f"{self.mirror}/dists/{self.name}"

    @property
    def inrelease_sha256(self) -> str:
        return self.release.sha256

    @property
    def date(self) -> datetime:
        return self.release.date


@dataclass(frozen=True)
class PackagesIndex:
    """The verified, decompressed ``Packages`` index of one suite/component/architecture."""

    suite: Suite
    component: str
    arch: str
    path: Path
    sha256: str  # of the compressed file, which is also the cache key

    def paragraphs(self) -> Iterator[Paragraph]:
        """Stream the index's paragraphs, one at a time."""
        source = f"{self.suite.url}/{self.component}/binary-{self.arch}/Packages"
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            yield from iter_paragraphs(fh, source)

    def deb_ref(self, paragraph: Paragraph) -> DebRef:
        """Where the .deb of ``paragraph`` is on the mirror and what it must hash to."""
        try:
            filename = paragraph["Filename"]
            sha256 = paragraph["SHA256"]
            size = int(paragraph["Size"])
        except (KeyError, ValueError):
            name = paragraph.get("Package", "?")
            raise DebianError(
                f"package {name} in {self.suite.url}: bad Filename/Size/SHA256"
            ) from None
        if ".." in filename.split("/") or filename.startswith("/"):
            raise IntegrityError(f"package index entry has a hostile Filename {filename!r}")
        return DebRef(f"{self.suite.mirror}/{filename}", sha256, size, paragraph.get("Package", ""))


def index_cache_path(cache_dir: Path, sha256: str) -> Path:
    return cache_dir / "indices" / "sha256" / sha256.lower()


#: the codec of each index file name suffix
_CODECS: dict[str, Codec] = {
    ".xz": "xz",
    ".gz": "gzip",
    ".bz2": "bzip2",
    ".zst": "zstd",
    "": "none",
}


class DebianArchive:
    """Verified access to one or more Debian mirrors, with a local cache.

    ``keyring`` defaults to the host's Debian archive keyring (or the bundled keys);
    ``client`` may be shared with other downloads.  Use as a context manager.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        keyring: Keyring | None = None,
        client: httpx.Client | None = None,
        reporter: Reporter = _NULL_REPORTER,
        now: datetime | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.keyring = keyring if keyring is not None else load_keyring()
        self._own_client = client is None
        self.client = client or make_client()
        self.reporter = reporter
        self._now = now
        self._suites: dict[tuple[str, str], Suite] = {}

    def __enter__(self) -> DebianArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def suite(self, mirror: str, name: str) -> Suite:
        """Fetch and verify ``dists/<name>/InRelease`` from ``mirror`` (once per archive)."""
        mirror = mirror.rstrip("/")
        known = self._suites.get((mirror, name))
        if known is not None:
            return known
        url = f"{mirror}/dists/{name}/InRelease"
        try:
            with self.client.stream("GET", url) as resp:
                if resp.status_code == 404:
                    raise NotFoundError(f"{url}: suite {name!r} not found on the mirror")
                if resp.status_code != 200:
                    raise DebianError(f"{url}: mirror answered HTTP {resp.status_code}")
                chunks: list[bytes] = []
                total = 0
                for chunk in resp.iter_bytes(CHUNK):
                    total += len(chunk)
                    if total > MAX_INRELEASE:
                        raise IntegrityError(f"{url}: InRelease is implausibly large")
                    chunks.append(chunk)
        except httpx.TransportError as exc:
            raise DebianError(f"{url}: cannot reach the mirror ({exc})") from exc
        release = load_inrelease(b"".join(chunks), self.keyring, name=url, now=self._now)
        self.reporter.event("inrelease-verified", url=url, sha256=release.sha256)
        suite = Suite(mirror, name, release)
        self._suites[(mirror, name)] = suite
        return suite

    def indices(
        self, sources: Sequence[SuiteSource], arch: str, component: str = "main"
    ) -> list[PackagesIndex]:
        """Verified Packages indices of ``arch`` for every suite, in ``sources`` order.

        The order matters to the resolver only for ties; versions decide otherwise.  The
        InRelease files are fetched at once: on a warm cache they are all the waiting.
        """
        if len(sources) > 1:
            with ThreadPoolExecutor(max_workers=len(sources)) as pool:
                suites = list(pool.map(lambda s: self.suite(s.mirror, s.suite), sources))
        else:
            suites = [self.suite(s.mirror, s.suite) for s in sources]
        return [self.packages(suite, arch, component) for suite in suites]

    def _pick(self, suite: Suite, base: str) -> tuple[str, IndexFile]:
        for suffix in COMPRESSIONS:
            entry = suite.release.files.get(base + suffix)
            if entry is not None:
                return suffix, entry
        raise NotFoundError(f"{suite.url}/InRelease lists no {base} index")

    def packages(self, suite: Suite, arch: str, component: str = "main") -> PackagesIndex:
        """The verified Packages index of ``component``/``arch``, from cache or the mirror."""
        base = f"{component}/binary-{arch}/Packages"
        suffix, entry = self._pick(suite, base)
        final = index_cache_path(self.cache_dir, entry.sha256)
        index = PackagesIndex(suite, component, arch, final, entry.sha256)
        if final.is_file():
            self.reporter.event("index-cached", url=f"{suite.url}/{base}", sha256=entry.sha256)
            return index
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".index-", dir=self.cache_dir)
        os.close(fd)
        compressed = Path(tmp_name)
        what = f"{suite.url}/{entry.path}"
        try:
            compressed.unlink()  # download_verified creates it; an empty file would resume
            task = self.reporter.task(f"index {suite.name}/{base}", total=entry.size)
            try:
                self._download_index(suite, entry, compressed, what, task)
            finally:
                task.done()
            plain = suite.release.files.get(base) if suffix else None
            final.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(final) as out:
                self._decompress(compressed, suffix, out, final, what, plain)
        finally:
            compressed.unlink(missing_ok=True)
        self.reporter.event("index-downloaded", url=what, sha256=entry.sha256)
        return index

    def _download_index(
        self, suite: Suite, entry: IndexFile, dest: Path, what: str, task: Task
    ) -> None:
        urls = [f"{suite.url}/{entry.path}"]
        if suite.release.acquire_by_hash:
            directory = entry.path.rsplit("/", 1)[0]
            urls.insert(0, f"{suite.url}/{directory}/by-hash/SHA256/{entry.sha256}")
        for i, url in enumerate(urls):
            try:
                download_verified(
                    self.client,
                    url,
                    dest,
                    sha256=entry.sha256,
                    size=entry.size,
                    what=what,
                    task=task,
                )
                return
            except NotFoundError:
                if i == len(urls) - 1:
                    raise

    def _decompress(
        self,
        src: Path,
        suffix: str,
        out: BinaryIO,
        dest: Path,
        what: str,
        plain: IndexFile | None,
    ) -> None:
        h = hashlib.sha256()
        size = 0
        try:
            with src.open("rb") as raw:
                stream = open_decompressor(raw, _CODECS[suffix])
                while chunk := stream.read(CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except OSError as exc:
            if exc.errno is not None:
                raise cache_write_error(exc, dest) from exc
            raise IntegrityError(f"{what}: cannot decompress ({exc})") from exc
        except DECOMPRESS_ERRORS as exc:
            raise IntegrityError(f"{what}: cannot decompress ({exc})") from exc
        if plain is not None and (plain.size != size or plain.sha256 != h.hexdigest()):
            raise IntegrityError(f"{what}: decompressed content does not match the Release")
