"""Referrers (artifacts such as SBOMs and signatures that name an image as ``subject``) and
cosign's signature tags, to and from a registry.

Each artifact goes up like any manifest: its blobs first, then the manifest by digest.  A
registry that implements the referrers API answers that ``PUT`` with an ``OCI-Subject``
header and indexes the artifact itself.  For one that does not (the header is missing and
``GET /v2/<name>/referrers/<digest>`` is a 404), the distribution spec's fallback applies:
an image index tagged ``sha256-<hex of the subject digest>`` lists the referrers, and this
module merges the new ones into whatever that tag already lists, so other tools' artifacts
survive.

Signatures also go up in cosign's own scheme, the manifest tagged ``sha256-<hex>.sig``,
which is what cosign and skopeo look for; the signatures already there (made by other tools
or earlier pushes) are kept and ours appended.

Pulling asks the referrers API, falls back to the ``sha256-<hex>`` tag, and reads the
``.sig`` tag.  All of it is untrusted and optional to the image: counts and sizes are
bounded, an artifact that does not name its subject is skipped, and a registry that fails
to list referrers fails nothing but the listing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from distroless.errors import DistrolessError, IntegrityError, NotFoundError, RegistryError
from distroless.oci import mediatypes as mt
from distroless.oci.digest import Digest, sha256_bytes
from distroless.oci.models import Descriptor, Index, Manifest
from distroless.reporter import Reporter
from distroless.sign.cosign_layout import (
    SIGNATURE_ARTIFACT_TYPE,
    Signature,
    append_signatures,
    read_signatures,
    signature_tag,
)
from distroless.store.referrers import ReferrerSource, referrers, signature_tag_manifest
from distroless.transports.registry.bodies import read_capped
from distroless.transports.registry.client import RegistryClient, registry_error, repo_scope
from distroless.transports.registry.targets import ImageSource

if TYPE_CHECKING:
    from distroless.transports.registry.pull import RemoteDocument
    from distroless.transports.registry.push import _Pusher


def fallback_tag(subject: str) -> str:
    """The referrers tag schema: ``sha256:abc…`` becomes the tag ``sha256-abc…``."""
    algorithm, _, hex_part = subject.partition(":")
    return f"{algorithm}-{hex_part}"


def attached_referrers(
    store: ImageSource, subjects: Sequence[Descriptor]
) -> dict[str, list[Descriptor]]:
    """Subject digest -> the artifacts the store holds for it (subjects without any left out)."""
    if not isinstance(store, ReferrerSource):
        return {}  # a source that cannot attach anything (a bare layout, a staging area)
    found = {s.digest: referrers(store, s.digest) for s in subjects}
    return {digest: descs for digest, descs in found.items() if descs}


def referrers_api_supported(pusher: _Pusher, subject: str) -> bool:
    """True when the registry serves ``GET /v2/<name>/referrers/<digest>``."""
    resp = pusher.client.request(
        "GET",
        f"/v2/{pusher.repo}/referrers/{subject}",
        scopes=(pusher.push_scope,),
        headers={"Accept": mt.OCI_INDEX},
    )
    resp.close()
    return resp.status_code == 200 and mt.OCI_INDEX in resp.headers.get("content-type", "")


def _current_fallback(pusher: _Pusher, tag: str) -> list[Descriptor]:
    from distroless.transports.registry.pull import fetch_manifest

    try:
        doc = fetch_manifest(pusher.client, pusher.repo, tag)
    except NotFoundError:
        return []
    if doc.media_type != mt.OCI_INDEX:
        raise RegistryError(
            f"{pusher.client.host}/{pusher.repo}:{tag} is a {doc.media_type}, not the image "
            "index of referrers; remove that tag or push with --no-referrers"
        )
    return list(Index.from_bytes(doc.data).manifests)


def update_fallback_tag(pusher: _Pusher, subject: str, new: Sequence[Descriptor]) -> bool:
    """Merge ``new`` into the index at the fallback tag of ``subject``; False if unchanged."""
    tag = fallback_tag(subject)
    listed = _current_fallback(pusher, tag)
    known = {d.digest for d in listed}
    added = [d for d in new if d.digest not in known]
    if not added:
        return False
    index = Index(tuple([*listed, *sorted(added, key=lambda d: d.digest)]))
    pusher.document(index.descriptor(), index.to_bytes(), tag)
    return True


def push_referrers(
    pusher: _Pusher, store: ImageSource, attached: Mapping[str, Sequence[Descriptor]]
) -> int:
    """Push every artifact of ``attached``; returns how many went up."""
    supported: bool | None = None
    count = 0
    for subject, descs in attached.items():
        unindexed = []
        for desc in descs:
            data = store.read_blob(desc.digest)
            manifest = Manifest.from_bytes(data)
            if manifest.subject is None or manifest.subject.digest != subject:
                raise RegistryError(f"artifact {desc.digest} does not name {subject} as subject")
            for blob in (manifest.config, *manifest.layers):
                pusher.blob(blob)
            stored = Descriptor(desc.media_type, desc.digest, desc.size)
            if pusher.document(stored, data, desc.digest) != subject:
                unindexed.append(desc)
            count += 1
        if unindexed:
            if supported is None:
                supported = referrers_api_supported(pusher, subject)
            if not supported:
                update_fallback_tag(pusher, subject, unindexed)
        pusher.reporter.event("push.referrers", subject=subject, count=len(descs))
    return count


def fetch_small_blob(client: RegistryClient, repository: str, desc: Descriptor) -> bytes:
    """A small blob (a signature payload, a config) read whole and checked by digest."""
    what = f"blob {desc.digest} of {client.host}/{repository}"
    if desc.size > MAX_SMALL_BLOB:
        raise RegistryError(f"{what} is {desc.size} bytes, too large for an attachment part")
    resp = client.request(
        "GET",
        f"/v2/{repository}/blobs/{desc.digest}",
        scopes=(repo_scope(repository, "pull"),),
        headers={"Accept-Encoding": "identity"},
    )
    try:
        if resp.status_code != 200:
            raise registry_error(resp, f"fetching {what}")

        def too_large() -> DistrolessError:
            return IntegrityError(f"{what} is larger than its descriptor says")

        try:
            data = read_capped(resp, desc.size, too_large, what)
        except httpx.TransportError as exc:
            raise RegistryError(f"fetching {what} was interrupted: {exc}") from None
    finally:
        resp.close()
    if len(data) != desc.size or sha256_bytes(data) != desc.digest:
        raise IntegrityError(f"{what} does not match its digest and size")
    return data


def signed_subjects(store: ImageSource, subjects: Sequence[Descriptor]) -> list[Descriptor]:
    """The subjects the store holds a ``.sig`` manifest for."""
    if not isinstance(store, ReferrerSource):
        return []
    return [s for s in subjects if signature_tag_manifest(store, s.digest) is not None]


def push_signature_tags(pusher: _Pusher, store: ImageSource, subjects: Sequence[Descriptor]) -> int:
    """Send each subject's ``.sig`` manifest, merged into the one the registry has."""
    if not isinstance(store, ReferrerSource):
        return 0
    from distroless.transports.registry.pull import fetch_manifest

    sent = 0
    for subject in subjects:
        local = signature_tag_manifest(store, subject.digest)
        if local is None:
            continue
        ours = read_signatures(store.read_document(local), store.read_blob)
        tag = signature_tag(subject.digest)
        try:
            remote = fetch_manifest(pusher.client, pusher.repo, tag)
        except NotFoundError:
            remote = None
        if remote is None:
            data = store.read_document(local)
            manifest = Manifest.from_bytes(data)
            for part in (manifest.config, *manifest.layers):
                pusher.blob(part)
        else:
            theirs = Manifest.from_bytes(remote.data)
            config = fetch_small_blob(pusher.client, pusher.repo, theirs.config)
            merged = append_signatures(remote.data, config, ours)
            if merged.manifest == remote.data:
                continue  # every signature of ours is there already
            data = merged.manifest
            for digest, content in merged.blobs.items():
                pusher.blob_bytes(Descriptor(mt.OCI_CONFIG, digest, len(content)), content)
        desc = Descriptor(mt.OCI_MANIFEST, sha256_bytes(data), len(data))
        pusher.document(desc, data, tag)
        sent += 1
    return sent


# -- pull ----------------------------------------------------------------------------------

#: referrers taken per image: more than any honest image has (an SBOM per format, a few
#: signatures and attestations)
MAX_REFERRERS = 64
#: a signature payload or an artifact config, read into memory
MAX_SMALL_BLOB = 4 << 20
#: an SBOM, attestation or other artifact layer, streamed into the store
MAX_ARTIFACT_BLOB = 256 << 20


@dataclass
class RemoteAttachments:
    """What a registry holds beside some images, read (documents) or listed (blobs)."""

    #: (document, subject digest, kind): kind is "referrer" or "signature-tag"
    documents: list[tuple[RemoteDocument, str, str]] = field(default_factory=list)
    #: blobs those documents need, to stream into the store
    blobs: dict[str, Descriptor] = field(default_factory=dict)
    #: blobs already read into memory (signature payloads)
    fetched: dict[str, bytes] = field(default_factory=dict)
    #: the signatures found, by the digest of the image they sign
    signatures: dict[str, list[Signature]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def list_referrers(client: RegistryClient, repository: str, subject: str) -> list[Descriptor]:
    """The referrers the registry lists for ``subject``: its API, else the fallback tag."""
    from distroless.transports.registry.pull import fetch_manifest

    resp = client.request(
        "GET",
        f"/v2/{repository}/referrers/{subject}",
        scopes=(repo_scope(repository, "pull"),),
        headers={"Accept": mt.OCI_INDEX},
    )
    try:
        if resp.status_code == 200 and mt.OCI_INDEX in resp.headers.get("content-type", ""):

            def too_large() -> DistrolessError:
                return RegistryError(f"the referrers of {subject} are listed in too large a body")

            data = read_capped(resp, 4 << 20, too_large, f"referrers of {subject}")
            return list(Index.from_bytes(data).manifests)[:MAX_REFERRERS]
    finally:
        resp.close()
    try:
        doc = fetch_manifest(client, repository, fallback_tag(subject))
    except NotFoundError:
        return []
    if doc.media_type != mt.OCI_INDEX:
        return []
    return list(Index.from_bytes(doc.data).manifests)[:MAX_REFERRERS]


def _take(
    found: RemoteAttachments,
    client: RegistryClient,
    repository: str,
    doc: RemoteDocument,
    subject: str,
    kind: str,
) -> None:
    manifest = Manifest.from_bytes(doc.data)
    if kind == "referrer" and (manifest.subject is None or manifest.subject.digest != subject):
        raise IntegrityError(f"artifact {doc.digest} does not name {subject} as its subject")
    parts = [manifest.config, *manifest.layers]
    if any(p.size > MAX_ARTIFACT_BLOB for p in parts):
        raise RegistryError(f"artifact {doc.digest} has a part larger than {MAX_ARTIFACT_BLOB}")
    is_signature = kind == "signature-tag" or (
        (manifest.artifact_type or manifest.config.media_type) == SIGNATURE_ARTIFACT_TYPE
    )
    if is_signature:

        def blob(digest: Digest) -> bytes:
            if digest not in found.fetched:
                desc = next(p for p in parts if p.digest == digest)
                found.fetched[digest] = fetch_small_blob(client, repository, desc)
            return found.fetched[digest]

        sigs = read_signatures(doc.data, blob)
        known = found.signatures.setdefault(subject, [])
        known.extend(s for s in sigs if s not in known)
    for part in parts:
        if part.digest not in found.fetched:
            found.blobs.setdefault(part.digest, part)
    found.documents.append((doc, subject, kind))


def fetch_attachments(
    client: RegistryClient, repository: str, subjects: Sequence[str], reporter: Reporter
) -> RemoteAttachments:
    """The referrers and ``.sig`` manifests of ``subjects``; what fails is skipped, noted."""
    from distroless.transports.registry.pull import fetch_manifest

    found = RemoteAttachments()
    for subject in dict.fromkeys(subjects):
        try:
            listed = list_referrers(client, repository, subject)
        except DistrolessError as exc:
            found.skipped.append(f"referrers of {subject}: {exc}")
            listed = []
        for desc in listed:
            if not mt.is_manifest(desc.media_type):
                continue
            try:
                doc = fetch_manifest(client, repository, desc.digest, desc.size)
                _take(found, client, repository, doc, subject, "referrer")
            except DistrolessError as exc:
                found.skipped.append(f"referrer {desc.digest}: {exc}")
        try:
            doc = fetch_manifest(client, repository, signature_tag(subject))
        except NotFoundError:
            continue
        except DistrolessError as exc:
            found.skipped.append(f"signatures of {subject}: {exc}")
            continue
        try:
            _take(found, client, repository, doc, subject, "signature-tag")
        except DistrolessError as exc:
            found.skipped.append(f"signatures of {subject}: {exc}")
    for note in found.skipped:
        reporter.event("pull.referrers.skipped", reason=note)
    return found


__all__ = [
    "MAX_REFERRERS",
    "RemoteAttachments",
    "attached_referrers",
    "fallback_tag",
    "fetch_attachments",
    "fetch_small_blob",
    "list_referrers",
    "push_referrers",
    "push_signature_tags",
    "referrers_api_supported",
    "signed_subjects",
    "update_fallback_tag",
]
