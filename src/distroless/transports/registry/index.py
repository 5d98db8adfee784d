"""One multi-platform index in a registry from images that separate machines pushed.

CI runners build one platform each and push it; ``index create`` joins them under one
tag without pulling a layer: it reads each source's manifest (and, for a single image,
its config, the only place that names its platform), then makes every child manifest
present in the target repository.  A blob the target already has is left alone; one in
another repository of the same registry is *mounted* from there; only a blob that lives
on another registry is copied, streamed from one connection to the other, never stored.
The child manifests go up by digest, the index last, under its tag, so the tag never
names an index whose children are missing.

Two children that claim the same platform would make a pull's choice arbitrary, so they
are refused, unless the caller names each one's platform (adding the variant that tells
them apart).  The index is canonical JSON of the children in the order given: the same
sources give the same index digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin

from distroless.errors import (
    ArchiveError,
    InputError,
    IntegrityError,
    RegistryError,
    UsageError,
)
from distroless.oci import mediatypes as mt
from distroless.oci.canonical import dumps
from distroless.oci.digest import sha256_bytes
from distroless.oci.limits import check_document_size
from distroless.oci.models import Descriptor, ImageConfig, Index, Manifest, Platform
from distroless.oci.reference import Reference
from distroless.reporter import NullReporter, Reporter
from distroless.transports.registry.bodies import iter_capped, read_capped
from distroless.transports.registry.client import RegistryClient, registry_error, repo_scope
from distroless.transports.registry.endpoints import Registries
from distroless.transports.registry.pull import RemoteDocument, fetch_manifest


@dataclass(frozen=True)
class Child:
    """One manifest of the new index and where it was found."""

    source: Reference
    document: RemoteDocument
    platform: Platform | None
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(
            self.document.media_type,
            self.document.digest,
            len(self.document.data),
            annotations=dict(self.annotations),
            platform=self.platform,
        )


@dataclass(frozen=True)
class IndexResult:
    reference: Reference
    descriptor: Descriptor
    data: bytes  # the index exactly as pushed (or, for a dry run, as it would be)
    children: tuple[Child, ...]
    pushed: bool
    present: int = 0  # blobs the target repository had already
    mounted: int = 0
    copied: int = 0
    bytes_copied: int = 0


def _is_attestation(desc: Descriptor) -> bool:
    """Build attestations ride along in an index under the platform ``unknown/unknown``."""
    return desc.platform is not None and desc.platform.os == "unknown"


class _Creator:
    def __init__(self, registries: Registries, target: Reference, reporter: Reporter) -> None:
        self.registries = registries
        self.target = target
        self.client = registries.client(registries.origin(target.registry))
        self.reporter = reporter
        self.push_scope = repo_scope(target.repository, "pull", "push")
        self.present = self.mounted = self.copied = self.bytes_copied = 0
        self._done: set[str] = set()
        self.where = f"{self.client.host}/{target.repository}"

    def source_client(self, ref: Reference) -> RegistryClient:
        return self.registries.client(self.registries.origin(ref.registry))

    # -- reading the sources ------------------------------------------------------------
    def config_platform(self, ref: Reference, manifest: Manifest) -> Platform:
        config = manifest.config
        what = f"config {config.digest} of {ref}"
        check_document_size(config.size, config.media_type, what)
        client = self.source_client(ref)
        resp = client.request(
            "GET",
            f"/v2/{ref.repository}/blobs/{config.digest}",
            scopes=(repo_scope(ref.repository, "pull"),),
            headers={"Accept-Encoding": "identity"},
        )
        try:
            if resp.status_code != 200:
                raise registry_error(resp, f"fetching {what}")
            data = read_capped(
                resp,
                config.size,
                lambda: IntegrityError(f"{what}: the registry sent more than {config.size} bytes"),
                what,
            )
        finally:
            resp.close()
        if sha256_bytes(data) != config.digest:
            raise IntegrityError(f"{what}: the registry sent other bytes than its digest names")
        try:
            return ImageConfig.from_bytes(data).platform
        except ArchiveError as exc:
            raise ArchiveError(f"{what}: {exc}") from None

    def children_of(self, text: str, override: Platform | None) -> list[Child]:
        ref = Reference.parse(text)
        client = self.source_client(ref)
        top = fetch_manifest(client, ref.repository, ref.digest or ref.tag or "latest")
        if mt.is_manifest(top.media_type):
            manifest = Manifest.from_bytes(top.data)
            claimed = self.config_platform(ref, manifest)
            platform = claimed
            if override is not None:
                if (override.os, override.architecture) != (claimed.os, claimed.architecture):
                    raise InputError(
                        f"{text} is a {claimed} image; --platform may add a variant to it but "
                        f"not make it {override}"
                    )
                platform = override
            return [Child(ref, top, platform)]
        if override is not None:
            raise UsageError(
                f"{text} is an index already; its platforms come from it, --platform is for "
                "single images"
            )
        children = []
        for desc in Index.from_bytes(top.data).manifests:
            if not mt.is_manifest(desc.media_type):
                raise RegistryError(f"{text}: nested index {desc.digest} is not supported")
            doc = fetch_manifest(client, ref.repository, desc.digest, desc.size)
            children.append(Child(ref, doc, desc.platform, desc.annotations))
        return children

    # -- making the children present in the target -------------------------------------
    def _head(self, kind: str, digest: str) -> bool:
        resp = self.client.request(
            "HEAD",
            f"/v2/{self.target.repository}/{kind}/{digest}",
            scopes=(self.push_scope,),
            headers={"Accept": ", ".join((*mt.MANIFEST_TYPES, *mt.INDEX_TYPES))},
        )
        resp.close()
        if resp.status_code == 200:
            return True
        if resp.status_code == 404:
            return False
        raise registry_error(
            resp, f"checking {digest} in {self.client.host}/{self.target.repository}"
        )

    def _start_upload(self, source: Reference, digest: str) -> str | None:
        """Mount from ``source`` when it is on the target's registry; None when mounted,
        else the upload location the blob is to be streamed to."""
        base = f"/v2/{self.target.repository}/blobs/uploads/"
        if source.registry == self.target.registry:
            query = urlencode({"mount": digest, "from": source.repository})
            resp = self.client.request(
                "POST",
                f"{base}?{query}",
                scopes=(self.push_scope, repo_scope(source.repository, "pull")),
                headers={"Content-Length": "0"},
            )
        else:
            resp = self.client.request(
                "POST", base, scopes=(self.push_scope,), headers={"Content-Length": "0"}
            )
        try:
            if resp.status_code == 201 and source.registry == self.target.registry:
                return None
            if resp.status_code != 202 or not resp.headers.get("location"):
                raise registry_error(
                    resp, f"starting an upload to {self.client.host}/{self.target.repository}"
                )
            return urljoin(str(resp.url), resp.headers["location"])
        finally:
            resp.close()

    def _stream(self, source: Reference, desc: Descriptor) -> Iterator[bytes]:
        """The blob as the source registry sends it, checked against its digest."""
        what = f"blob {desc.digest} of {source.name}"
        resp = self.source_client(source).request(
            "GET",
            f"/v2/{source.repository}/blobs/{desc.digest}",
            scopes=(repo_scope(source.repository, "pull"),),
            headers={"Accept-Encoding": "identity"},
        )
        try:
            if resp.status_code != 200:
                raise registry_error(resp, f"fetching {what}")
            hasher = hashlib.sha256()
            too_large = lambda: IntegrityError(  # noqa: E731
                f"{what}: the registry sent more than {desc.size} bytes"
            )
            for piece in iter_capped(resp, desc.size, too_large, what):
                hasher.update(piece)
                yield piece
            if f"sha256:{hasher.hexdigest()}" != desc.digest:
                raise IntegrityError(f"{what}: the registry sent other bytes than its digest")
        finally:
            resp.close()

    def blob(self, source: Reference, desc: Descriptor) -> None:
        if desc.digest in self._done:
            return
        self._done.add(desc.digest)
        if self._head("blobs", desc.digest):
            self.present += 1
            return
        location = self._start_upload(source, desc.digest)
        if location is None:
            self.mounted += 1
            self.reporter.event("index.blob.mounted", digest=desc.digest)
            return
        sep = "&" if "?" in location else "?"
        task = self.reporter.task(desc.digest[7:19], total=desc.size)

        def body() -> Iterator[bytes]:
            for piece in self._stream(source, desc):
                task.advance(len(piece))
                yield piece

        try:
            resp = self.client.request(
                "PUT",
                f"{location}{sep}{urlencode({'digest': desc.digest})}",
                scopes=(self.push_scope,),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(desc.size),
                },
                body=body,
                retry=False,
            )
        finally:
            task.done()
        try:
            if resp.status_code != 201:
                raise registry_error(
                    resp,
                    f"copying blob {desc.digest} to {self.client.host}/{self.target.repository}",
                )
        finally:
            resp.close()
        self.copied += 1
        self.bytes_copied += desc.size
        self.reporter.event("index.blob.copied", digest=desc.digest, size=desc.size)

    def document(self, media_type: str, digest: str, data: bytes, ref: str) -> None:
        resp = self.client.request(
            "PUT",
            f"/v2/{self.target.repository}/manifests/{ref}",
            scopes=(self.push_scope,),
            headers={"Content-Type": media_type},
            body=data,
        )
        try:
            if resp.status_code not in (200, 201):
                raise registry_error(
                    resp,
                    f"pushing {digest} to {self.client.host}/{self.target.repository}:{ref}",
                )
            echoed = resp.headers.get("docker-content-digest")
            if echoed and echoed != digest:
                raise IntegrityError(f"registry {self.client.host} stored {digest} as {echoed}")
        finally:
            resp.close()
        self.reporter.event("index.manifest", digest=digest, reference=ref)

    def child(self, child: Child) -> None:
        doc = child.document
        same_repo = (child.source.registry, child.source.repository) == (
            self.target.registry,
            self.target.repository,
        )
        if same_repo or self._head("manifests", doc.digest):
            return
        manifest = Manifest.from_bytes(doc.data)
        for desc in (manifest.config, *manifest.layers):
            if not desc.urls:  # foreign layers stay where their URLs say
                self.blob(child.source, desc)
        self.document(doc.media_type, doc.digest, doc.data, doc.digest)


def _check_platforms(images: Sequence[tuple[str, list[Child]]]) -> None:
    seen: dict[tuple[str, str, str, str], str] = {}
    for text, children in images:
        for child in children:
            p = child.platform
            if p is None or _is_attestation(child.descriptor):
                continue
            key = (p.os, p.architecture, p.variant or "", p.os_version or "")
            if key in seen:
                first = seen[key]
                if first == text:
                    raise InputError(f"{text} is named twice; an index holds each platform once")
                raise InputError(
                    f"{first} and {text} both claim platform {p}; drop one, or tell them apart "
                    "with --platform IMAGE=os/arch/variant"
                )
            seen[key] = text


def _index_type(images: Sequence[tuple[str, list[Child]]]) -> str:
    families = {
        mt.family_of(c.document.media_type): text for text, children in images for c in children
    }
    if len(families) > 1:
        raise InputError(
            f"{families['docker']} holds Docker v2 manifests and {families['oci']} OCI ones; "
            "an index must not mix the two families: push both in one format"
        )
    return mt.DOCKER_MANIFEST_LIST if "docker" in families else mt.OCI_INDEX


def create_index(
    target: Reference | str,
    images: Sequence[str],
    *,
    platforms: Mapping[str, Platform] | None = None,
    annotations: Mapping[str, str] | None = None,
    registries: Registries | None = None,
    reporter: Reporter | None = None,
    dry_run: bool = False,
) -> IndexResult:
    """Join ``images`` (references in registries) into one index pushed to ``target``.

    ``platforms`` names the platform of a single-image source (keyed as it appears in
    ``images``), overriding its config's; with ``dry_run`` nothing is written and the
    result carries the index that would have been pushed.
    """
    ref = Reference.parse(target) if isinstance(target, str) else target
    if ref.digest:
        raise UsageError(f"{target}: name the new index with a tag, not a digest")
    if not images:
        raise UsageError("name at least one image to put in the index")
    overrides = dict(platforms or {})
    unknown = sorted(set(overrides) - set(images))
    if unknown:
        raise UsageError(f"--platform names {unknown[0]}, which is not one of the images")
    reporter = reporter or NullReporter()
    own = registries is None
    regs = registries or Registries()
    try:
        creator = _Creator(regs, ref, reporter)
        found: list[tuple[str, list[Child]]] = []
        for text in images:
            found.append((text, creator.children_of(text, overrides.get(text))))
        _check_platforms(found)
        media_type = _index_type(found)
        children = tuple(c for _, cs in found for c in cs)
        index = Index(tuple(c.descriptor for c in children), media_type, dict(annotations or {}))
        data = dumps(index.to_dict())
        desc = Descriptor(media_type, sha256_bytes(data), len(data))
        if dry_run:
            return IndexResult(ref, desc, data, children, pushed=False)
        for child in children:
            creator.child(child)
        creator.document(media_type, desc.digest, data, ref.tag or "latest")
        reporter.event("index.done", reference=str(ref), digest=desc.digest)
        return IndexResult(
            ref,
            desc,
            data,
            children,
            pushed=True,
            present=creator.present,
            mounted=creator.mounted,
            copied=creator.copied,
            bytes_copied=creator.bytes_copied,
        )
    finally:
        if own:
            regs.close()


__all__ = ["Child", "IndexResult", "create_index"]
