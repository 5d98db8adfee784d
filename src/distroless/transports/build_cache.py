"""Where a shared build cache lives: a registry repository or a local OCI layout.

Both hold the same artifact (:mod:`distroless.dockerfile.shared_cache`): a manifest whose
config is the record of step keys and whose layers are the step layers.  In a registry the
layers go beside the manifest in the same repository, and an entry whose layer is neither
in the local store nor already in that repository is left out of the record rather than
pointing at nothing; one that lives in another repository of the same registry (the
cache this build imported) is mounted from there, never downloaded to be uploaded again.
A local cache is an OCI image layout with the manifest named
:data:`LOCAL_NAME`, as BuildKit's ``type=local`` cache is a layout too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

from distroless.dockerfile.shared_cache import (
    CACHE_RECORD_TYPE,
    CacheFormatError,
    CacheRecord,
    check_manifest,
)
from distroless.errors import AuthError, NotFoundError
from distroless.layers.layer import Layer
from distroless.oci import mediatypes as mt
from distroless.oci.digest import sha256_bytes
from distroless.oci.models import Descriptor, Manifest
from distroless.oci.reference import Reference
from distroless.reporter import NullReporter, Reporter
from distroless.store import Store
from distroless.transports.layout import export_layout, find_in_layout, open_layout_blob
from distroless.transports.registry.client import RegistryClient, repo_scope
from distroless.transports.registry.endpoints import Registries
from distroless.transports.registry.pull import fetch_blob, fetch_manifest
from distroless.transports.registry.push import CHUNKED_THRESHOLD, _Pusher
from distroless.transports.registry.referrers import fetch_small_blob
from distroless.transports.walk import read_verified

#: The ``ref.name`` of the cache manifest in a local cache directory.
LOCAL_NAME = "build-cache"


def _record_descriptor(record: CacheRecord) -> tuple[Descriptor, bytes]:
    data = record.to_bytes()
    return Descriptor(CACHE_RECORD_TYPE, sha256_bytes(data), len(data)), data


class RegistryCache:
    """The cache at ``ref`` (``REGISTRY/REPO:TAG``), through the command's registries."""

    def __init__(self, ref: str, registries: Registries, reporter: Reporter | None = None) -> None:
        self.ref = Reference.parse(ref)
        self.registries = registries
        self.reporter = reporter or NullReporter()

    def __str__(self) -> str:
        return str(self.ref)

    def _client(self) -> RegistryClient:
        return self.registries.client(self.registries.origin(self.ref.registry))

    def _tag(self) -> str:
        return self.ref.digest or self.ref.tag or "latest"

    def load(self) -> CacheRecord:
        client = self._client()
        repo = self.ref.repository
        doc = fetch_manifest(client, repo, self._tag())
        if not mt.is_manifest(doc.media_type):
            raise CacheFormatError(f"{self.ref} is an index, not a build cache")
        record = check_manifest(Manifest.from_bytes(doc.data), str(self.ref))
        return CacheRecord.from_bytes(fetch_small_blob(client, repo, record), str(self.ref))

    def fetch(self, desc: Descriptor, store: Store) -> None:
        fetch_blob(self._client(), self.ref.repository, desc, store, self.reporter)

    def _mount(self, pusher: _Pusher, desc: Descriptor, origin: object) -> bool:
        """Mount ``desc`` from the cache it was imported from, on the same registry."""
        if not isinstance(origin, RegistryCache) or origin.ref.registry != self.ref.registry:
            return False
        if origin.ref.repository == self.ref.repository:
            return False
        query = urlencode({"mount": desc.digest, "from": origin.ref.repository})
        try:
            resp = pusher.client.request(
                "POST",
                f"/v2/{self.ref.repository}/blobs/uploads/?{query}",
                scopes=(pusher.push_scope, repo_scope(origin.ref.repository, "pull")),
                headers={"Content-Length": "0"},
            )
        except AuthError:
            return False
        resp.close()
        mounted = resp.status_code == 201
        if mounted:
            self.reporter.event("push.blob.mounted", digest=desc.digest)
        return mounted

    def save(
        self, record: CacheRecord, store: Store, origins: Mapping[str, object] | None = None
    ) -> int:
        """Blobs first, then the record, then the manifest under the tag: a reader never
        finds a tag naming blobs that are not there yet.  ``origins`` names, by layer
        digest, the cache each layer this store lacks was imported from."""
        pusher = _Pusher(
            store, self._client(), self.ref.repository, self.reporter, CHUNKED_THRESHOLD
        )
        kept: dict[str, Layer] = {}
        local: dict[str, Descriptor] = {}
        present: dict[str, bool] = {}
        for key, layer in record.entries.items():
            desc = layer.descriptor
            if store.has_blob(desc.digest):
                local[desc.digest] = desc
            elif desc.digest not in present:
                present[desc.digest] = pusher.exists(desc) or self._mount(
                    pusher, desc, (origins or {}).get(desc.digest)
                )
            if desc.digest in local or present[desc.digest]:
                kept[key] = layer
        for desc in local.values():
            pusher.blob(desc)
        final = CacheRecord(kept)
        config, data = _record_descriptor(final)
        pusher.blob_bytes(config, data)
        manifest = final.manifest(config)
        body = manifest.to_bytes()
        pusher.document(
            Descriptor(manifest.media_type, sha256_bytes(body), len(body)), body, self._tag()
        )
        return len(kept)


class LocalCache:
    """The cache in directory ``path`` (an OCI image layout)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __str__(self) -> str:
        return str(self.path)

    def _read(self, desc: Descriptor) -> bytes:
        with open_layout_blob(self.path, desc.digest) as fh:
            return fh.read(desc.size + 1)

    def load(self) -> CacheRecord:
        if not self.path.is_dir():
            raise NotFoundError(f"{self.path} does not exist")
        top = find_in_layout(self.path, LOCAL_NAME)
        if not mt.is_manifest(top.media_type):
            raise CacheFormatError(f"{self.path}: {LOCAL_NAME} is not a build cache manifest")
        manifest = Manifest.from_bytes(read_verified(top, self._read, str(self.path)))
        record = check_manifest(manifest, str(self.path))
        return CacheRecord.from_bytes(
            read_verified(record, self._read, str(self.path)), str(self.path)
        )

    def fetch(self, desc: Descriptor, store: Store) -> None:
        if store.has_descriptor(desc):
            return
        with open_layout_blob(self.path, desc.digest) as fh:
            store.put_descriptor(desc, fh)

    def save(
        self, record: CacheRecord, store: Store, origins: Mapping[str, object] | None = None
    ) -> int:
        kept = {k: v for k, v in record.entries.items() if store.has_blob(v.descriptor.digest)}
        final = CacheRecord(kept)
        config, data = _record_descriptor(final)
        store.put_bytes(data, config.digest)
        top = store.put_manifest(final.manifest(config))
        self.path.mkdir(parents=True, exist_ok=True)
        export_layout(store, top, self.path, LOCAL_NAME)
        return len(kept)
