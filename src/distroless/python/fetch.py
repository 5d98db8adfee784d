"""Wheels into the package cache, each verified by the sha256 its lock or index gave.

A wheel lands at ``<cache>/wheels/sha256/<hex>/<filename>`` only after its bytes hashed
right (the installer reads name and version from the file name, so it is kept); a file
present there is trusted, so a rebuild downloads nothing.  ``file:`` URLs (a local wheel
directory in pip's configuration) are copied through the same check.
"""

from __future__ import annotations

import hashlib
import ssl
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import httpx

from distroless.debian.fetch import cache_write_error
from distroless.errors import IntegrityError, PythonPackageError
from distroless.python.resolve import LockedWheel
from distroless.reporter import NullReporter, Reporter
from distroless.store.atomic import atomic_file

CHUNK = 1 << 20
#: a wheel larger than this is refused while it streams
MAX_WHEEL_BYTES = 4 << 30


def wheel_path(cache_dir: Path, wheel: LockedWheel) -> Path:
    return cache_dir / "wheels" / "sha256" / wheel.sha256 / wheel.filename


def _client() -> httpx.Client:
    # the system's CA store, as pip uses it here; httpx alone would bring its own
    return httpx.Client(
        verify=ssl.create_default_context(),
        follow_redirects=True,
        timeout=httpx.Timeout(120.0, connect=30.0),
        transport=httpx.HTTPTransport(retries=3),
        headers={"User-Agent": "distroless (+wheel fetch)"},
    )


@contextmanager
def _stream(client: httpx.Client, url: str, what: str) -> Iterator[Iterator[bytes]]:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
        try:
            fh: BinaryIO = path.open("rb")
        except OSError as exc:
            raise PythonPackageError(f"{what}: cannot read {path}: {exc.strerror}") from None
        with fh:
            yield iter(lambda: fh.read(CHUNK), b"")
        return
    if parsed.scheme not in ("http", "https"):
        raise PythonPackageError(f"{what}: cannot download from {url!r}")
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise PythonPackageError(f"{what}: HTTP {response.status_code} from {url}")
            yield response.iter_bytes(CHUNK)
    except httpx.HTTPError as exc:
        raise PythonPackageError(f"{what}: download from {url} failed: {exc}") from None


def fetch_wheels(
    cache_dir: Path, wheels: Sequence[LockedWheel], reporter: Reporter | None = None
) -> dict[str, Path]:
    """sha256 -> the verified wheel in the cache, downloading only what is missing."""
    report = reporter or NullReporter()
    out: dict[str, Path] = {}
    missing = []
    for wheel in wheels:
        path = wheel_path(cache_dir, wheel)
        if path.is_file():
            out[wheel.sha256] = path
            report.event("wheel-cached", name=wheel.name, sha256=wheel.sha256)
        else:
            missing.append(wheel)
    if not missing:
        return out
    with _client() as client:
        for wheel in missing:
            out[wheel.sha256] = _download(client, cache_dir, wheel, report)
    return out


def _download(client: httpx.Client, cache_dir: Path, wheel: LockedWheel, report: Reporter) -> Path:
    dest = wheel_path(cache_dir, wheel)
    what = f"wheel {wheel.filename}"
    task = report.task(f"download {wheel.filename}")
    digest = hashlib.sha256()
    size = 0
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # a failure inside the block (a short read, a wrong sha256) leaves nothing at dest
        with _stream(client, wheel.url, what) as chunks, atomic_file(dest, 0o644) as out:
            for chunk in chunks:
                size += len(chunk)
                if size > MAX_WHEEL_BYTES:
                    raise PythonPackageError(f"{what}: larger than {MAX_WHEEL_BYTES} bytes")
                digest.update(chunk)
                out.write(chunk)
                task.advance(len(chunk))
            if digest.hexdigest() != wheel.sha256:
                raise IntegrityError(
                    f"{what}: sha256 mismatch, expected {wheel.sha256}, "
                    f"got {digest.hexdigest()}; the download was discarded"
                )
    except OSError as exc:
        raise cache_write_error(exc, dest) from exc
    finally:
        task.done()
    report.event("wheel-downloaded", name=wheel.name, sha256=wheel.sha256, size=size)
    return dest
