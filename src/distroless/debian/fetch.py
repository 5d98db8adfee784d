"""Downloading verified files from a Debian mirror into a content-addressed cache.

Every download is checked against a size and sha256 that came from a signed source (the
``InRelease`` file, or a ``Packages`` index it vouches for) while the bytes stream to
disk.  A ``.deb`` lands at ``<cache>/debs/sha256/<hex>.deb`` only after it verified, so a
file present under its hash is trusted and a second run downloads nothing.  Interrupted
downloads stay as ``<hex>.deb.partial`` and resume with an HTTP ``Range`` request;
content that fails verification is deleted, never kept.  Two processes sharing a cache
(two builds at once, two test workers) may want the same ``.deb``: the one holding an
exclusive ``flock`` on the ``.partial`` downloads it, the other waits and then finds it in
place, so neither renames a file the other is still writing or has already moved.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from distroless.errors import DebianError, IntegrityError, NotFoundError, StoreError
from distroless.reporter import NullReporter, Reporter, Task
from distroless.store.atomic import publish_file

_NULL_REPORTER = NullReporter()

CHUNK = 1 << 20
ATTEMPTS = 4
WORKERS = 4
USER_AGENT = "distroless (+debian fetch)"


def make_client(timeout: float = 60.0) -> httpx.Client:
    """The shared HTTP client: pooled connections, connection retries, redirects followed."""
    transport = httpx.HTTPTransport(retries=3)
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=20.0),
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
    )


@dataclass(frozen=True)
class DebRef:
    """A .deb to download: where it is and what it must hash to."""

    url: str
    sha256: str
    size: int
    name: str = ""


def cache_write_error(exc: OSError, path: Path) -> StoreError:
    """A failed write into the package cache, as one sentence naming the file."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(
            f"no space left on device while writing {path} (the package cache); "
            "free space or set DISTROLESS_CACHE elsewhere, then retry"
        )
    return StoreError(f"cannot write {path} in the package cache: {exc.strerror or exc}")


def deb_cache_path(cache_dir: Path, sha256: str) -> Path:
    """Where the verified .deb with this sha256 lives in the cache."""
    return cache_dir / "debs" / "sha256" / f"{sha256.lower()}.deb"


def _partial_size(path: Path) -> int:
    """The size of a download to resume; anything but a regular file there is removed.

    The name of a partial download is predictable (it must be, to resume), so a link or
    FIFO found there is never followed or opened: it goes, and the download starts over.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0
    if stat.S_ISREG(st.st_mode):
        return st.st_size
    path.unlink()
    return 0


def _open_partial(path: Path, append: bool) -> BinaryIO:
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags | (os.O_APPEND if append else os.O_TRUNC), 0o644)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return os.fdopen(fd, "ab" if append else "wb")


def _hash_existing(path: Path) -> tuple[hashlib._Hash, int]:
    h = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h, size


def download_verified(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    sha256: str,
    size: int,
    what: str,
    task: Task | None = None,
) -> None:
    """Download ``url`` into ``dest`` (resuming it if present) and verify size and hash.

    On a mismatch ``dest`` is deleted and :class:`IntegrityError` names ``what``; on a
    transport failure after retries ``dest`` is kept so that a later call resumes.
    """
    last_error: Exception | None = None
    for _attempt in range(ATTEMPTS):
        have = _partial_size(dest)
        if have > size:
            dest.unlink()
            have = 0
        if have == size and dest.exists():
            break
        if have:
            h, _ = _hash_existing(dest)
        else:
            h = hashlib.sha256()
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with client.stream("GET", url, headers=headers) as resp:
                if resp.status_code == 404:
                    raise NotFoundError(f"{what}: not found on the mirror ({url})")
                if resp.status_code == 206 and have:
                    append = True
                elif resp.status_code == 200:
                    append, have, h = False, 0, hashlib.sha256()
                else:
                    raise DebianError(f"{what}: mirror answered HTTP {resp.status_code} ({url})")
                if task is not None and have:
                    task.advance(have)
                with _open_partial(dest, append) as out:
                    for chunk in resp.iter_bytes():
                        have += len(chunk)
                        if have > size:
                            out.close()
                            dest.unlink()
                            raise IntegrityError(
                                f"{what}: larger than the {size} bytes the signed index lists"
                            )
                        h.update(chunk)
                        out.write(chunk)
                        if task is not None:
                            task.advance(len(chunk))
        except httpx.TransportError as exc:
            last_error = exc
            continue
        except OSError as exc:
            raise cache_write_error(exc, dest) from exc
        if have == size:
            if h.hexdigest() != sha256.lower():
                dest.unlink()
                raise IntegrityError(
                    f"{what}: sha256 mismatch, expected {sha256}, got {h.hexdigest()}; "
                    "the download was discarded"
                )
            return
        last_error = DebianError(f"{what}: download ended early at {have} of {size} bytes")
    else:
        raise DebianError(f"{what}: download failed after {ATTEMPTS} attempts: {last_error}")
    # the file was already complete on disk: verify it in full
    h, got = _hash_existing(dest)
    if got != size or h.hexdigest() != sha256.lower():
        dest.unlink()
        raise IntegrityError(f"{what}: sha256 mismatch in resumed download; it was discarded")


def _complete(final: Path, size: int) -> bool:
    try:
        return final.stat().st_size == size
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def _partial_held(partial: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``partial`` (created empty if absent) for one download.

    A waiter may get the lock on the inode the holder then renamed to the final name; it
    re-checks the final name before downloading, and an empty ``.partial`` it made itself
    only to wait on is removed again."""
    _partial_size(partial)  # a link or other non-file left at the name goes first
    fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            held = os.fstat(fd)
            now = os.lstat(partial)
            if held.st_size == 0 and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                os.unlink(partial)
        os.close(fd)


def fetch_deb(
    client: httpx.Client,
    ref: DebRef,
    cache_dir: Path,
    *,
    reporter: Reporter = _NULL_REPORTER,
) -> Path:
    """The cached path of ``ref``, downloading and verifying it first if needed."""
    final = deb_cache_path(cache_dir, ref.sha256)
    what = ref.name or ref.url.rsplit("/", 1)[-1]
    if _complete(final, ref.size):
        reporter.event("deb-cached", name=ref.name, sha256=ref.sha256)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(final.name + ".partial")
    with _partial_held(partial):
        if _complete(final, ref.size):  # another process fetched it while this one waited
            reporter.event("deb-cached", name=ref.name, sha256=ref.sha256)
            return final
        task = reporter.task(f"download {what}", total=ref.size)
        try:
            download_verified(
                client, ref.url, partial, sha256=ref.sha256, size=ref.size, what=what, task=task
            )
            try:
                publish_file(partial, final)
            except OSError as exc:
                raise cache_write_error(exc, final) from exc
        finally:
            task.done()
    reporter.event("deb-downloaded", name=ref.name, sha256=ref.sha256, size=ref.size)
    return final


def fetch_debs(
    refs: Iterable[DebRef],
    cache_dir: Path,
    *,
    client: httpx.Client | None = None,
    reporter: Reporter = _NULL_REPORTER,
    workers: int = WORKERS,
) -> Mapping[str, Path]:
    """Download every ref not yet cached, ``workers`` at a time; sha256 -> cached path.

    The first failure is raised after the other downloads finished, so verified files
    are kept for the next run.
    """
    unique = {ref.sha256.lower(): ref for ref in refs}
    own = client is None
    http = client or make_client()
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = {
                sha: pool.submit(fetch_deb, http, ref, cache_dir, reporter=reporter)
                for sha, ref in unique.items()
            }
        out: dict[str, Path] = {}
        errors: list[BaseException] = []
        for sha in sorted(futures):
            exc = futures[sha].exception()
            if exc is not None:
                errors.append(exc)
            else:
                out[sha] = futures[sha].result()
        if errors:
            raise errors[0]
        return out
    finally:
        if own:
            http.close()
