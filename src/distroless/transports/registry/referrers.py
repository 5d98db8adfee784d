"""Pushing referrers (artifacts such as SBOMs that name an image as ``subject``).

Each artifact goes up like any manifest: its blobs first, then the manifest by digest.  A
registry that implements the referrers API answers that ``PUT`` with an ``OCI-Subject``
header and indexes the artifact itself.  For one that does not (the header is missing and
``GET /v2/<name>/referrers/<digest>`` is a 404), the distribution spec's fallback applies:
an image index tagged ``sha256-<hex of the subject digest>`` lists the referrers, and this
module merges the new ones into whatever that tag already lists, so other tools' artifacts
survive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from distroless.errors import NotFoundError, RegistryError
from distroless.oci import mediatypes as mt
from distroless.oci.models import Descriptor, Index, Manifest
from distroless.store.referrers import ReferrerSource, referrers
from distroless.transports.registry.targets import ImageSource

if TYPE_CHECKING:
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


__all__ = [
    "attached_referrers",
    "fallback_tag",
    "push_referrers",
    "referrers_api_supported",
    "update_fallback_tag",
]
