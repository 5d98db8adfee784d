"""Pull an image from a registry into the store.

The order makes a failed pull harmless: blobs first (each verified by digest while it
streams into the store, several at once, and synced when complete), then manifests, all
made visible together with one sync of the blob directory once every one is in (a
:class:`~distroless.store.atomic.BlobBatch`), and the tag last.  A blob whose connection
breaks is resumed with a ``Range`` request instead of starting again.  If anything fails,
the other downloads are stopped at once (their connections shut down) and none of the
image's blobs ever appears, so the store looks as it did before.

Nothing the registry sends is trusted to be small: a manifest is read up to its
descriptor's size (4 MiB when it has none), a blob stream is cut at its descriptor's size,
and the manifests of an index are held in memory only up to :data:`MAX_DOCUMENTS` bytes.

The image's referrers (SBOMs, signatures, attestations) and cosign's ``.sig`` manifest come
along (:mod:`distroless.transports.registry.referrers`), and the policy of the user's config
(:mod:`distroless.sign.policy`) is enforced on the signatures found before any layer is
fetched: an image the policy refuses leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event, Lock

import httpx

from distroless.errors import (
    ArchiveError,
    AuthError,
    DistrolessError,
    IntegrityError,
    NotFoundError,
    RegistryError,
)
from distroless.oci import mediatypes as mt
from distroless.oci.digest import CHUNK, Digest, sha256_bytes
from distroless.oci.limits import check_document_size
from distroless.oci.models import Descriptor, ImageConfig, Index, Manifest, Platform, load_json
from distroless.oci.reference import Reference
from distroless.reporter import NullReporter, Reporter
from distroless.store.atomic import BlobBatch
from distroless.store.referrers import AttachmentStore, attach_referrer, attach_signature_manifest
from distroless.transports.registry.bodies import (
    DOCUMENT_LIMIT,
    iter_capped,
    printable,
    read_capped,
)
from distroless.transports.registry.client import RegistryClient, registry_error, repo_scope
from distroless.transports.registry.endpoints import Registries
from distroless.transports.registry.mount_hints import BlobSources
from distroless.transports.registry.referrers import RemoteAttachments, fetch_attachments
from distroless.transports.registry.targets import ImageSink

MANIFEST_ACCEPT = ", ".join(
    (mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST)
)
MAX_MANIFEST = DOCUMENT_LIMIT
MAX_DOCUMENTS = 16 * 1024 * 1024  # the manifests of one index, held until its blobs are in
PULL_ROOT = "registry-pull"
#: blobs in flight at once: small blobs cost a round trip each, which these overlap
PARALLEL_BLOBS = 6
_DIRECT = 256 * 1024  # a network read this large goes to the blob as it is


@dataclass(frozen=True)
class RemoteDocument:
    """A manifest or index as the registry served it: exact bytes, type and digest."""

    media_type: str
    digest: Digest
    data: bytes

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.data))


@dataclass(frozen=True)
class PullResult:
    reference: Reference
    descriptor: Descriptor  # what the name now points at (an index or one manifest)
    name: str | None  # the stored tag, None when pulled by digest only
    endpoint: str  # the host that served it (a mirror or the registry itself)
    blobs_fetched: int
    bytes_fetched: int


@dataclass
class _Progress:
    created: list[Path] = field(default_factory=list)
    fetched: int = 0
    bytes: int = 0
    lock: Lock = field(default_factory=Lock)

    def add(self, created: Path | None, size: int) -> None:
        with self.lock:
            if created is not None:
                self.created.append(created)
            self.fetched += 1
            self.bytes += size


def _media_type(header: str | None, data: bytes, what: str) -> str:
    declared = (header or "").split(";", 1)[0].strip()
    if mt.is_manifest(declared) or mt.is_index(declared):
        return declared
    doc = load_json(data, what)
    if doc.get("schemaVersion") == 1:
        raise RegistryError(f"{what} is a schema 1 manifest, which is not supported")
    body_type = str(doc.get("mediaType") or "")
    if mt.is_manifest(body_type) or mt.is_index(body_type):
        return body_type
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "config" in doc:
        return mt.OCI_MANIFEST
    raise RegistryError(f"{what} has unsupported media type {declared or body_type!r}")


def fetch_manifest(
    client: RegistryClient, repository: str, ref: str, size: int | None = None
) -> RemoteDocument:
    """GET a manifest or index by tag or digest and check its bytes against its digest.

    ``size`` is the size its descriptor declares; the body may not exceed it (nor
    :data:`MAX_MANIFEST`, with or without a descriptor).
    """
    what = f"manifest {client.host}/{repository}{'@' if ref.startswith('sha256:') else ':'}{ref}"
    if size is not None and size > MAX_MANIFEST:
        raise RegistryError(
            f"{what} is declared as {size} bytes, more than the {MAX_MANIFEST} a manifest may have"
        )
    limit = MAX_MANIFEST if size is None else size

    def too_large() -> DistrolessError:
        if size is None:
            return RegistryError(f"{what} is larger than {MAX_MANIFEST} bytes")
        return IntegrityError(f"{what} is larger than the {size} bytes its descriptor declares")

    resp = client.request(
        "GET",
        f"/v2/{repository}/manifests/{ref}",
        scopes=(repo_scope(repository, "pull"),),
        headers={"Accept": MANIFEST_ACCEPT},
    )
    try:
        if resp.status_code != 200:
            raise registry_error(resp, f"fetching {what}")
        try:
            data = read_capped(resp, limit, too_large, what)
        except httpx.TransportError as exc:
            raise RegistryError(f"fetching {what} was interrupted: {exc}") from None
        content_type = resp.headers.get("content-type")
        header_digest = resp.headers.get("docker-content-digest")
    finally:
        resp.close()
    digest = sha256_bytes(data)
    expected = ref if ref.startswith("sha256:") else header_digest
    if expected and expected.startswith("sha256:") and expected != digest:
        raise IntegrityError(
            f"{what}: digest mismatch, expected {printable(expected, 80)}, got {digest}"
        )
    if size is not None and len(data) != size:
        raise IntegrityError(f"{what} is {len(data)} bytes, not the {size} of its descriptor")
    return RemoteDocument(_media_type(content_type, data, what), digest, data)


class _Stopped(Exception):
    """A download given up because another one of the same pull failed."""


class _Abort:
    """Stops every download of one pull as soon as one of them fails.

    Each download checks the flag between reads; a read already blocked on a silent server
    is woken by shutting its connection's socket down (closing it would not wake it).
    """

    def __init__(self) -> None:
        self._event = Event()
        self._lock = Lock()
        self._open: set[httpx.Response] = set()

    def check(self) -> None:
        if self._event.is_set():
            raise _Stopped()

    @contextlib.contextmanager
    def watching(self, resp: httpx.Response) -> Iterator[None]:
        with self._lock:
            self._open.add(resp)
        try:
            self.check()
            yield
        finally:
            with self._lock:
                self._open.discard(resp)

    def trigger(self) -> None:
        with self._lock:
            self._event.set()
            responses = list(self._open)
        for resp in responses:
            stream = resp.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def _oversized(what: str, desc: Descriptor, encoding: str | None) -> Callable[[], DistrolessError]:
    def error() -> DistrolessError:
        if encoding:
            return IntegrityError(
                f"{what}: its {printable(encoding, 40)}-encoded body expands beyond the "
                f"{desc.size} bytes of its descriptor"
            )
        return IntegrityError(f"{what}: the registry sent more than {desc.size} bytes")

    return error


def _fetch_blob(
    client: RegistryClient,
    repository: str,
    desc: Descriptor,
    *,
    store: ImageSink,
    reporter: Reporter,
    progress: _Progress,
    abort: _Abort | None = None,
    batch: BlobBatch | None = None,
) -> None:
    """Stream one blob into the store, resuming with ``Range`` after a broken connection."""
    what = f"blob {desc.digest} of {client.host}/{repository}"
    abort = abort or _Abort()
    task = reporter.task(f"{desc.digest[7:19]}", total=desc.size)
    attempts = 0
    with store.write_blob(expected=desc.digest, batch=batch) as writer:
        pending = bytearray()  # small network reads are gathered; the disk prefers large writes

        def flush() -> None:
            if pending:
                writer.write(pending)
                task.advance(len(pending))
                pending.clear()

        while True:
            abort.check()
            offset = writer.size
            # Identity encoding: a transparently decompressed body would not match its digest.
            headers = {"Accept-Encoding": "identity"}
            if offset:
                headers["Range"] = f"bytes={offset}-"
            resp = client.request(
                "GET",
                f"/v2/{repository}/blobs/{desc.digest}",
                scopes=(repo_scope(repository, "pull"),),
                headers=headers,
            )
            try:
                with abort.watching(resp):
                    skip = 0
                    if resp.status_code == 200:
                        skip = offset  # the server ignored Range: drop what we already have
                    elif resp.status_code == 206 and offset:
                        start = resp.headers.get("content-range", "").removeprefix("bytes ")
                        if not start.startswith(f"{offset}-"):
                            raise RegistryError(f"{what}: the registry resumed at the wrong offset")
                    else:
                        raise registry_error(resp, f"fetching {what}")
                    too_large = _oversized(what, desc, resp.headers.get("content-encoding"))
                    limit = desc.size - offset + skip
                    for received in iter_capped(resp, limit, too_large, what):
                        abort.check()
                        cut = min(skip, len(received))
                        skip -= cut
                        piece = received[cut:] if cut else received
                        if not pending and len(piece) >= _DIRECT:
                            writer.write(piece)  # large enough: no copy into ``pending``
                            task.advance(len(piece))
                            continue
                        pending += piece
                        if len(pending) >= CHUNK:
                            flush()
                flush()
                break
            except httpx.TransportError as exc:
                abort.check()  # a connection shut down by the abort is not worth resuming
                flush()  # keep what arrived intact; the next request resumes after it
                attempts += 1
                if attempts >= client.retry.attempts:
                    raise RegistryError(
                        f"fetching {what} failed after {attempts} attempts: {exc}"
                    ) from None
                client.pause(attempts - 1)
            finally:
                resp.close()
    task.done()
    progress.add(writer.created, writer.size)


def _fetch_blobs(
    client: RegistryClient,
    repository: str,
    blobs: list[Descriptor],
    *,
    store: ImageSink,
    reporter: Reporter,
    progress: _Progress,
    workers: int,
    batch: BlobBatch | None = None,
) -> None:
    todo = []
    for desc in {d.digest: d for d in blobs}.values():
        # a stored blob is skipped only when the registry's descriptor agrees on its size
        if store.has_descriptor(desc):
            reporter.event("pull.blob.exists", digest=desc.digest)
        else:
            todo.append(desc)
    if not todo:
        return
    abort = _Abort()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures: list[Future[None]] = [
            pool.submit(
                _fetch_blob,
                client,
                repository,
                d,
                store=store,
                reporter=reporter,
                progress=progress,
                abort=abort,
                batch=batch,
            )
            for d in todo
        ]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            # On the first failure (or an interrupt): queued downloads never start, running
            # ones stop now; the pool's exit then waits only for them to notice.
            failed = [f for f in futures if f.done() and not f.cancelled() and f.exception()]
            if failed or not all(f.done() for f in futures):
                abort.trigger()
                for f in futures:
                    f.cancel()
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
    for desc in todo:
        reporter.event("pull.blob", digest=desc.digest, size=desc.size)


def _config_of(manifest: Manifest) -> Descriptor:
    """The config to fetch; one over its bound is refused before a byte of it is read."""
    config = manifest.config
    check_document_size(config.size, config.media_type, f"config {config.digest}")
    return config


def _manifest_blobs(manifest: Manifest, layers: bool = True) -> list[Descriptor]:
    return [_config_of(manifest), *(d for d in manifest.layers if layers and not d.urls)]


def _resolve(registries: Registries, ref: Reference) -> tuple[RegistryClient, RemoteDocument]:
    """Try each mirror, then the registry itself; the first that has the image wins."""
    target = ref.digest or ref.tag or "latest"
    errors: list[str] = []
    endpoints = registries.pull_endpoints(ref.registry)
    for i, endpoint in enumerate(endpoints):
        client = registries.client(endpoint)
        try:
            return client, fetch_manifest(client, ref.repository, target)
        except (RegistryError, NotFoundError) as exc:
            if i + 1 == len(endpoints):
                if errors and not isinstance(exc, AuthError | IntegrityError):
                    raise type(exc)(f"{exc} (mirrors tried first: {'; '.join(errors)})") from None
                raise
            errors.append(f"{endpoint.host}: {exc}")
    raise AssertionError("unreachable")  # pragma: no cover


def pull(
    store: ImageSink,
    reference: Reference | str,
    *,
    platform: Platform | None = None,
    all_platforms: bool = False,
    registries: Registries | None = None,
    reporter: Reporter | None = None,
    workers: int = PARALLEL_BLOBS,
    referrers: bool = True,
    layers: bool = True,
) -> PullResult:
    """Pull ``reference`` into ``store`` and tag it; return what was stored.

    An index is resolved to ``platform`` (the host's by default), or kept whole with every
    platform when ``all_platforms`` is true.  With ``referrers``, the artifacts attached to
    what is stored come too.  The policy of ``registries.config`` applies in any case.
    Without ``layers`` only the documents and configs are stored and nothing is tagged: a
    build that may never need an image's layers (:func:`fetch_layers` brings them later)
    must not leave a tag on an incomplete image.
    """
    ref = Reference.parse(reference) if isinstance(reference, str) else reference
    reporter = reporter or NullReporter()
    own = registries is None
    regs = registries or Registries()
    progress = _Progress()
    try:
        with store.session():
            return _pull(
                store,
                ref,
                platform=platform,
                all_platforms=all_platforms,
                registries=regs,
                reporter=reporter,
                workers=workers,
                progress=progress,
                referrers=referrers,
                layers=layers,
            )
    except BaseException:
        # Outside the session: the store removes what this pull created only once no other
        # writer (which may have found those very blobs already there) is active.
        store.discard(progress.created)
        raise
    finally:
        if own:
            regs.close()


def fetch_layers(
    store: ImageSink,
    reference: Reference,
    layers: list[Descriptor],
    *,
    registries: Registries,
    reporter: Reporter,
    workers: int = PARALLEL_BLOBS,
) -> None:
    """Bring ``layers`` of the image ``reference`` (by digest) into ``store``, the blobs a
    pull without layers left out; each is checked against its digest as a pull's are."""
    client, _top = _resolve(registries, reference)
    progress = _Progress()
    try:
        with store.session(), store.batch() as batch:
            try:
                _fetch_blobs(client, reference.repository, layers, store=store,
                             reporter=reporter, progress=progress, workers=workers,
                             batch=batch)  # fmt: skip
            finally:
                progress.created.extend(batch.created)
    except BaseException:
        store.discard(progress.created)
        raise


def _pull(
    store: ImageSink,
    ref: Reference,
    *,
    platform: Platform | None,
    all_platforms: bool,
    registries: Registries,
    reporter: Reporter,
    workers: int,
    progress: _Progress,
    referrers: bool = True,
    layers: bool = True,
) -> PullResult:
    client, top = _resolve(registries, ref)
    reporter.event("pull.resolved", reference=str(ref), digest=top.digest, endpoint=client.host)
    documents: list[RemoteDocument] = []  # stored in this order: children before parents
    blobs: list[Descriptor] = []
    tagged = top.descriptor
    if mt.is_index(top.media_type):
        index = Index.from_bytes(top.data)
        if all_platforms:
            children = list(index.manifests)
        else:
            wanted = platform or Platform.host()
            chosen = index.for_platform(wanted)
            if chosen is None:
                offered = ", ".join(str(d.platform) for d in index.manifests if d.platform)
                raise NotFoundError(
                    f"{ref} has no {wanted} image (it has: {offered or 'none'}); "
                    "pick one with --platform"
                )
            children = [chosen]
        unique = list({c.digest: c for c in children}.values())
        if sum(max(c.size, 0) for c in unique) > MAX_DOCUMENTS:
            raise RegistryError(
                f"{ref}: the manifests of its index add up to more than {MAX_DOCUMENTS} bytes"
            )
        for child in unique:
            if not mt.is_manifest(child.media_type):
                raise RegistryError(f"{ref}: nested index {child.digest} is not supported")
            doc = fetch_manifest(client, ref.repository, child.digest, child.size)
            blobs.extend(_manifest_blobs(Manifest.from_bytes(doc.data), layers))
            documents.append(doc)
        if all_platforms:
            documents.append(top)
        else:
            tagged = Descriptor(
                documents[0].media_type,
                documents[0].digest,
                len(documents[0].data),
                platform=children[0].platform,
            )
    else:
        manifest = Manifest.from_bytes(top.data)
        blobs.extend(_manifest_blobs(manifest, layers))
        documents.append(top)
        if platform is not None and not all_platforms:
            _check_platform(
                store,
                client,
                ref,
                manifest=manifest,
                platform=platform,
                progress=progress,
                reporter=reporter,
            )
    stored = [d.digest for d in documents]
    rule = registries.config.policy_for(ref)
    attachments = RemoteAttachments()
    if referrers or (rule is not None and rule.signed_by):
        attachments = fetch_attachments(
            client, ref.repository, list(dict.fromkeys([top.digest, *stored])), reporter
        )
    if rule is not None:
        # imported only when a policy applies: it brings the key code and ``cryptography``
        from distroless.sign.policy import FetchedSignatures, check_image_policy

        check_image_policy(
            registries.config, ref, top.descriptor, FetchedSignatures(attachments.signatures)
        )
    # The image's blobs and documents appear together, after one sync of the blob directory,
    # and only once every one of them is complete: a failed pull never shows a part of it.
    batch: BlobBatch | None = None
    try:
        with store.batch() as batch:
            _fetch_blobs(
                client,
                ref.repository,
                blobs,
                store=store,
                reporter=reporter,
                progress=progress,
                workers=workers,
                batch=batch,
            )
            for doc in documents:
                _write_document(store, doc.digest, doc.data, progress, batch)
    finally:
        if batch is not None:
            progress.created.extend(batch.created)
    name: str | None = None
    if not layers:
        pass  # an incomplete image: the caller tags it once its layers are in
    elif ref.tag:
        name = store.tag(str(ref.with_tag(ref.tag)), tagged)
    else:
        store.add_root(PULL_ROOT, str(ref), tagged)
    if referrers:
        _store_attachments(client, ref, store, attachments, set(stored), reporter, progress)
    BlobSources.of(store).record(
        client.host, ref.repository, [d.digest for d in blobs] + [d.digest for d in documents]
    )
    reporter.event("pull.done", reference=str(ref), digest=tagged.digest, name=name)
    return PullResult(ref, tagged, name, client.host, progress.fetched, progress.bytes)


def _write_document(
    store: ImageSink,
    digest: Digest,
    data: bytes,
    progress: _Progress,
    batch: BlobBatch | None = None,
) -> None:
    with store.write_blob(expected=digest, batch=batch) as w:
        w.write(data)
    if w.created is not None:
        progress.created.append(w.created)


def _store_attachments(
    client: RegistryClient,
    ref: Reference,
    store: ImageSink,
    found: RemoteAttachments,
    subjects: set[str],
    reporter: Reporter,
    progress: _Progress,
) -> None:
    """Keep the artifacts of the stored images; one that cannot be fetched is skipped."""
    if not isinstance(store, AttachmentStore):
        return
    for doc, subject, kind in found.documents:
        if subject not in subjects:
            continue  # an index's own artifacts, when only one of its platforms is kept
        manifest = Manifest.from_bytes(doc.data)
        parts = [manifest.config, *manifest.layers]
        try:
            for part in parts:
                if part.digest in found.fetched:
                    _write_document(store, part.digest, found.fetched[part.digest], progress)
            _fetch_blobs(
                client,
                ref.repository,
                [p for p in parts if p.digest not in found.fetched],
                store=store,
                reporter=reporter,
                progress=progress,
                workers=1,
            )
        except DistrolessError as exc:
            reporter.event("pull.referrers.skipped", reason=f"artifact {doc.digest}: {exc}")
            continue
        _write_document(store, doc.digest, doc.data, progress)
        desc = Descriptor(doc.media_type, doc.digest, len(doc.data))
        if kind == "signature-tag":
            attach_signature_manifest(store, subject, desc)
        else:
            attach_referrer(store, desc, doc.data)
        reporter.event("pull.referrer", subject=subject, digest=doc.digest, form=kind)


def _check_platform(
    store: ImageSink,
    client: RegistryClient,
    ref: Reference,
    *,
    manifest: Manifest,
    platform: Platform,
    progress: _Progress,
    reporter: Reporter,
) -> None:
    """A single-platform image must match an explicit ``--platform``; fetch its config first."""
    _fetch_blobs(
        client,
        ref.repository,
        [_config_of(manifest)],
        store=store,
        reporter=reporter,
        progress=progress,
        workers=1,
    )
    try:
        config = ImageConfig.from_bytes(store.read_blob(manifest.config.digest))
    except ArchiveError:
        return
    if not platform.matches(config.platform):
        raise NotFoundError(f"{ref} is a {config.platform} image, not {platform}")


def fetch_blob(
    client: RegistryClient,
    repository: str,
    desc: Descriptor,
    store: ImageSink,
    reporter: Reporter | None = None,
) -> int:
    """Stream one blob into ``store``, verified and resumable as a pull's; returns its size.

    For callers that fetch single blobs when they need them (a shared build cache) rather
    than a whole image.
    """
    if store.has_descriptor(desc):
        return 0
    progress = _Progress()
    _fetch_blob(
        client,
        repository,
        desc,
        store=store,
        reporter=reporter or NullReporter(),
        progress=progress,
    )
    return progress.bytes
