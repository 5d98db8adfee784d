"""Push an image from the store to a registry.

Order matters to readers of the registry: blobs first, then each platform's manifest (by
digest), then the index, and the tag last, so a tag never points at something incomplete.
Artifacts attached to the image in the store (SBOMs) go up between the image and its tag,
as OCI referrers (see :mod:`distroless.transports.registry.referrers`).
Blobs the registry already has are skipped after a ``HEAD``; blobs known to live in another
repository of the same registry are mounted instead of uploaded.  A blob goes up in one
``PUT`` after the ``POST`` that opens its session, which is the fewest requests there are;
only a blob over :data:`CHUNKED_THRESHOLD` goes in ``PATCH`` chunks, for registries that
bound one request's body.  A failed upload starts a fresh upload session, because a
half-written session cannot be trusted to resume (so chunks would buy no resumption).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from threading import Lock
from urllib.parse import urlencode, urljoin

from distroless.errors import (
    AuthError,
    IntegrityError,
    NotFoundError,
    ReferenceFormatError,
    RegistryError,
)
from distroless.oci import mediatypes as mt
from distroless.oci.digest import CHUNK
from distroless.oci.models import Descriptor, Index, Manifest
from distroless.oci.reference import Reference
from distroless.reporter import NullReporter, Reporter, Task
from distroless.transports.registry.client import RegistryClient, registry_error, repo_scope
from distroless.transports.registry.endpoints import Registries
from distroless.transports.registry.mount_hints import BlobSources
from distroless.transports.registry.referrers import (
    attached_referrers,
    push_referrers,
    push_signature_tags,
    signed_subjects,
)
from distroless.transports.registry.targets import ImageSource

CHUNKED_THRESHOLD = 1024 * 1024 * 1024
_MOUNT_TRIES = 3
#: blobs in flight at once: small blobs cost a round trip each, which these overlap
PARALLEL_BLOBS = 6


@dataclass(frozen=True)
class PushResult:
    reference: Reference
    descriptor: Descriptor
    uploaded: int
    mounted: int
    skipped: int
    bytes_uploaded: int
    referrers: int = 0
    signature_tags: int = 0


@dataclass
class _Counts:
    uploaded: int = 0
    mounted: int = 0
    skipped: int = 0
    bytes: int = 0

    def __post_init__(self) -> None:
        self.lock = Lock()


class _Pusher:
    def __init__(
        self,
        store: ImageSource,
        client: RegistryClient,
        repository: str,
        reporter: Reporter,
        chunk_size: int,
    ) -> None:
        self.store = store
        self.client = client
        self.repo = repository
        self.reporter = reporter
        self.chunk_size = chunk_size
        self.sources = BlobSources.of(store)
        self.counts = _Counts()
        self.push_scope = repo_scope(repository, "pull", "push")

    def _file_chunks(
        self, digest: str, start: int = 0, length: int | None = None, task: Task | None = None
    ) -> Iterator[bytes]:
        with self.store.open_blob(digest) as fh:
            fh.seek(start)
            left = length
            while left is None or left > 0:
                chunk = fh.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
                if task is not None:
                    task.advance(len(chunk))

    def exists(self, desc: Descriptor) -> bool:
        resp = self.client.request(
            "HEAD", f"/v2/{self.repo}/blobs/{desc.digest}", scopes=(self.push_scope,)
        )
        resp.close()
        if resp.status_code == 200:
            return True
        if resp.status_code == 404:
            return False
        raise registry_error(resp, f"checking blob {desc.digest} in {self.client.host}/{self.repo}")

    def _start(self, desc: Descriptor) -> str | None:
        """Open an upload session (trying mounts first); None when a mount completed it."""
        base = f"/v2/{self.repo}/blobs/uploads/"
        for source in self.sources.repositories(self.client.host, desc.digest)[:_MOUNT_TRIES]:
            if source == self.repo:
                continue
            query = urlencode({"mount": desc.digest, "from": source})
            try:
                resp = self.client.request(
                    "POST",
                    f"{base}?{query}",
                    scopes=(self.push_scope, repo_scope(source, "pull")),
                    headers={"Content-Length": "0"},
                )
            except AuthError:
                continue  # no read access to the source: a plain upload still works
            resp.close()
            if resp.status_code == 201:
                return None
            if resp.status_code == 202 and resp.headers.get("location"):
                return urljoin(str(resp.url), resp.headers["location"])
        resp = self.client.request(
            "POST", base, scopes=(self.push_scope,), headers={"Content-Length": "0"}
        )
        try:
            if resp.status_code != 202 or not resp.headers.get("location"):
                raise registry_error(resp, f"starting an upload to {self.client.host}/{self.repo}")
            return urljoin(str(resp.url), resp.headers["location"])
        finally:
            resp.close()

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        sep = "&" if "?" in location else "?"
        return f"{location}{sep}{urlencode({'digest': digest})}"

    def _upload(self, desc: Descriptor, location: str, task: Task) -> None:
        what = f"uploading blob {desc.digest} to {self.client.host}/{self.repo}"
        octet = {"Content-Type": "application/octet-stream"}
        if desc.size <= self.chunk_size:
            resp = self.client.request(
                "PUT",
                self._with_digest(location, desc.digest),
                scopes=(self.push_scope,),
                headers={**octet, "Content-Length": str(desc.size)},
                body=lambda: self._file_chunks(desc.digest, task=task),
                retry=False,
            )
            try:
                if resp.status_code != 201:
                    raise registry_error(resp, what)
            finally:
                resp.close()
            return
        start = 0
        while start < desc.size:
            length = min(self.chunk_size, desc.size - start)
            first = start
            resp = self.client.request(
                "PATCH",
                location,
                scopes=(self.push_scope,),
                headers={
                    **octet,
                    "Content-Length": str(length),
                    "Content-Range": f"{start}-{start + length - 1}",
                },
                body=lambda first=first, length=length: self._file_chunks(  # type: ignore[misc]
                    desc.digest, first, length, task
                ),
                retry=False,
            )
            try:
                if resp.status_code != 202 or not resp.headers.get("location"):
                    raise registry_error(resp, what)
                location = urljoin(str(resp.url), resp.headers["location"])
            finally:
                resp.close()
            start += length
        resp = self.client.request(
            "PUT",
            self._with_digest(location, desc.digest),
            scopes=(self.push_scope,),
            headers={"Content-Length": "0"},
            body=b"",
        )
        try:
            if resp.status_code != 201:
                raise registry_error(resp, what)
        finally:
            resp.close()

    def blob(self, desc: Descriptor) -> None:
        if self.exists(desc):
            with self.counts.lock:
                self.counts.skipped += 1
            self.reporter.event("push.blob.exists", digest=desc.digest)
            return
        attempts = self.client.retry.attempts
        for attempt in range(attempts):
            try:
                location = self._start(desc)
                if location is None:
                    with self.counts.lock:
                        self.counts.mounted += 1
                    self.reporter.event("push.blob.mounted", digest=desc.digest)
                    return
                task = self.reporter.task(f"{desc.digest[7:19]}", total=desc.size)
                try:
                    self._upload(desc, location, task)
                finally:
                    task.done()
                break
            except (AuthError, IntegrityError, NotFoundError):
                raise
            except RegistryError:
                if attempt + 1 == attempts:
                    raise
                self.client.pause(attempt)
        with self.counts.lock:
            self.counts.uploaded += 1
            self.counts.bytes += desc.size
        self.reporter.event("push.blob", digest=desc.digest, size=desc.size)

    def blob_bytes(self, desc: Descriptor, data: bytes) -> None:
        """Upload a small blob held in memory (a merged signature config), unless present."""
        if self.exists(desc):
            return
        location = self._start(desc)
        if location is None:
            return
        resp = self.client.request(
            "PUT",
            self._with_digest(location, desc.digest),
            scopes=(self.push_scope,),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
            body=data,
        )
        try:
            if resp.status_code != 201:
                raise registry_error(
                    resp, f"uploading blob {desc.digest} to {self.client.host}/{self.repo}"
                )
        finally:
            resp.close()

    def document(self, desc: Descriptor, data: bytes, ref: str) -> str | None:
        """PUT a manifest or index; returns the ``OCI-Subject`` header the registry sent."""
        resp = self.client.request(
            "PUT",
            f"/v2/{self.repo}/manifests/{ref}",
            scopes=(self.push_scope,),
            headers={"Content-Type": desc.media_type},
            body=data,
        )
        try:
            if resp.status_code not in (200, 201):
                raise registry_error(
                    resp, f"pushing manifest {desc.digest} to {self.client.host}/{self.repo}:{ref}"
                )
            echoed = resp.headers.get("docker-content-digest")
            if echoed and echoed != desc.digest:
                raise IntegrityError(
                    f"registry {self.client.host} stored manifest {desc.digest} as {echoed}"
                )
            subject: str | None = resp.headers.get("oci-subject")
        finally:
            resp.close()
        self.reporter.event("push.manifest", digest=desc.digest, reference=ref)
        return subject


def push(
    store: ImageSource,
    image: str,
    reference: Reference | str | None = None,
    *,
    registries: Registries | None = None,
    reporter: Reporter | None = None,
    workers: int = PARALLEL_BLOBS,
    chunk_size: int = CHUNKED_THRESHOLD,
    referrers: bool = True,
) -> PushResult:
    """Push the stored ``image`` (tag or digest) to ``reference`` (default: its own name).

    With ``referrers``, artifacts attached to the image in the store go up too.
    """
    if reference is None:
        try:
            ref = Reference.parse(image)
        except ReferenceFormatError:
            raise ReferenceFormatError(
                f"{image!r} is not a registry reference; give the destination, "
                "e.g. `distroless push IMAGE host:port/repo:tag`"
            ) from None
    else:
        ref = Reference.parse(reference) if isinstance(reference, str) else reference
    reporter = reporter or NullReporter()
    own = registries is None
    regs = registries or Registries()
    try:
        with store.session():
            top = store.resolve(image)
            if ref.digest and ref.digest != top.digest:
                raise IntegrityError(f"{image} is {top.digest}, not the requested {ref.digest}")
            client = regs.client(regs.origin(ref.registry))
            pusher = _Pusher(store, client, ref.repository, reporter, chunk_size)
            manifests: list[Descriptor] = []
            if mt.is_index(top.media_type):
                for child in Index.from_bytes(store.read_blob(top.digest)).manifests:
                    if not mt.is_manifest(child.media_type):
                        raise RegistryError(
                            f"{image}: nested index {child.digest} is not supported"
                        )
                    if not store.has_blob(child.digest):
                        raise NotFoundError(
                            f"{image}: its {child.platform or 'unnamed'} manifest {child.digest} "
                            "is not in the store; pull it with --all-platforms first"
                        )
                    manifests.append(child)
            elif mt.is_manifest(top.media_type):
                manifests.append(top)
            else:
                raise RegistryError(f"{image} is not an image (media type {top.media_type})")
            blobs: dict[str, Descriptor] = {}
            for m in manifests:
                manifest = Manifest.from_bytes(store.read_blob(m.digest))
                for d in (manifest.config, *manifest.layers):
                    if d.urls:
                        continue  # foreign layers stay where their URLs say
                    if not store.has_blob(d.digest):
                        raise NotFoundError(f"{image}: blob {d.digest} is not in the store")
                    blobs.setdefault(d.digest, d)
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                for _ in pool.map(pusher.blob, blobs.values()):
                    pass
            tag = ref.tag if ref.tag and not ref.digest else None
            if mt.is_index(top.media_type):
                for m in manifests:  # each platform's manifest before the index naming it
                    pusher.document(m, store.read_blob(m.digest), m.digest)
            subjects = [*manifests, top] if mt.is_index(top.media_type) else [top]
            attached = attached_referrers(store, subjects) if referrers else {}
            signed = signed_subjects(store, subjects) if referrers else []
            if (attached or signed) and tag:  # the image is complete before anything refers to it
                pusher.document(top, store.read_blob(top.digest), top.digest)
            pushed_referrers = push_referrers(pusher, store, attached)
            # cosign's tag scheme too: what cosign and skopeo look for
            pushed_signatures = push_signature_tags(pusher, store, signed)
            pusher.document(top, store.read_blob(top.digest), tag or top.digest)
            pusher.sources.record(
                client.host,
                ref.repository,
                [*blobs, *(m.digest for m in manifests), top.digest],
            )
            counts = pusher.counts
            reporter.event("push.done", reference=str(ref), digest=top.digest)
            return PushResult(
                ref,
                top,
                counts.uploaded,
                counts.mounted,
                counts.skipped,
                counts.bytes,
                pushed_referrers,
                pushed_signatures,
            )
    finally:
        if own:
            regs.close()
