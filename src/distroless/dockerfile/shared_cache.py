"""The build cache shared between machines: step keys and their layers, as an OCI artifact.

A runner that exports (``--cache-to``) writes one record: for each step it built or found,
the step's cache key (the same key :mod:`.cache` uses locally) and the layer it made, by
descriptor and diff_id.  The record is the config blob of an OCI manifest of its own
artifact type, whose layers are the step layers, so a registry keeps them and a copy of the
manifest carries everything.  Metadata steps are not in it: they are pure and cheap, and
every build re-applies them, so a layer is all a step ever needs from a cache.

A runner that imports (``--cache-from``) reads the records before the build and takes a
step found there as a hit without downloading anything: the next key only needs the
layer's diff_id.  A layer is fetched when something needs its bytes (a later step that
misses, a ``COPY --from`` that misses, the final image); so a builder stage whose every
consumer hits is never downloaded.  Everything in a record is untrusted: it is bounded,
validated, and each fetched layer is checked against its digest and its diff_id.  A cache
that cannot be read is a warning, never a failed build.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from distroless.dockerfile.cache import CACHE_VERSION
from distroless.errors import ArchiveError, DistrolessError, InputError, IntegrityError
from distroless.layers.compress import DECOMPRESS_ERRORS, open_decompressed
from distroless.layers.layer import Layer
from distroless.oci import mediatypes as mt
from distroless.oci.digest import parse_digest, sha256_file
from distroless.oci.models import Descriptor, Manifest
from distroless.reporter import Reporter
from distroless.store import Store

#: The artifact type of the cache manifest, and the media type of its record (the config).
CACHE_ARTIFACT_TYPE = "application/vnd.distroless.build-cache.v1"
CACHE_RECORD_TYPE = "application/vnd.distroless.build-cache.record.v1+json"
#: Bumped when the record's shape changes; an unknown one is a warning, not a failure.
RECORD_FORMAT = 1
#: The most steps one record may list; far beyond any Dockerfile, small enough to hold.
MAX_ENTRIES = 20_000
MAX_RECORD = 4 << 20


class CacheFormatError(InputError):
    """A cache record this version cannot use: another format, or not a record at all."""


@dataclass(frozen=True)
class CacheRecord:
    """Step key -> the layer the step made."""

    entries: Mapping[str, Layer]

    def to_bytes(self) -> bytes:
        steps = {
            key: {"layer": layer.descriptor.to_dict(), "diffID": layer.diff_id}
            for key, layer in sorted(self.entries.items())
        }
        doc = {"format": RECORD_FORMAT, "keys": CACHE_VERSION, "steps": steps}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> CacheRecord:
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise CacheFormatError(f"{where}: the cache record is not JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != RECORD_FORMAT:
            raise CacheFormatError(f"{where}: not a cache record of format {RECORD_FORMAT}")
        if doc.get("keys") != CACHE_VERSION:
            raise CacheFormatError(
                f"{where}: its step keys are of version {str(doc.get('keys'))[:20]!r}, "
                f"this build uses {CACHE_VERSION!r}"
            )
        steps = doc.get("steps")
        if not isinstance(steps, dict) or len(steps) > MAX_ENTRIES:
            raise CacheFormatError(f"{where}: the cache record's steps are not a bounded map")
        entries: dict[str, Layer] = {}
        for key, value in steps.items():
            if not (isinstance(key, str) and len(key) == 64 and _is_hex(key)):
                raise CacheFormatError(f"{where}: {str(key)[:80]!r} is not a step key")
            try:
                desc = Descriptor.from_dict(value["layer"])
                diff_id = parse_digest(value["diffID"])
            except (KeyError, TypeError, DistrolessError):
                raise CacheFormatError(f"{where}: the entry of step {key} is invalid") from None
            if desc.media_type not in _LAYER_TYPES or desc.urls:
                raise CacheFormatError(f"{where}: step {key} does not name a layer")
            entries[key] = Layer(Descriptor(desc.media_type, desc.digest, desc.size), diff_id)
        return cls(entries)

    def manifest(self, record: Descriptor) -> Manifest:
        """The artifact that carries this record: every layer it names, once, in key order."""
        layers = {layer.descriptor.digest: layer.descriptor for layer in self.entries.values()}
        return Manifest(record, tuple(layers.values()), artifact_type=CACHE_ARTIFACT_TYPE)


_LAYER_TYPES = frozenset(
    {mt.OCI_LAYER, mt.OCI_LAYER_GZIP, mt.OCI_LAYER_ZSTD, mt.DOCKER_LAYER, mt.DOCKER_LAYER_GZIP}
)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def check_manifest(manifest: Manifest, where: str) -> Descriptor:
    """The record's descriptor, when ``manifest`` is a cache of ours; else a format error."""
    if manifest.config.media_type != CACHE_RECORD_TYPE:
        raise CacheFormatError(
            f"{where} is not a build cache of this tool "
            f"(its config is {manifest.config.media_type[:80]!r})"
        )
    if manifest.config.size > MAX_RECORD:
        raise CacheFormatError(f"{where}: its cache record is larger than {MAX_RECORD} bytes")
    return manifest.config


class CacheBackend(Protocol):
    """One place a shared cache is read from or written to (a registry, a directory)."""

    def __str__(self) -> str: ...

    def load(self) -> CacheRecord:
        """The record there; a :class:`DistrolessError` when it is missing or unusable."""
        ...

    def fetch(self, desc: Descriptor, store: Store) -> None:
        """Copy the blob ``desc`` into ``store``, verified by digest and size."""
        ...

    def save(
        self, record: CacheRecord, store: Store, origins: Mapping[str, object] | None = None
    ) -> int:
        """Write ``record`` and the blobs it names; returns how many entries it kept.

        ``origins`` maps the digest of a layer the store lacks to the backend it was
        imported from, which a registry may mount it from.
        """
        ...


_UNREADABLE: tuple[type[BaseException], ...] = (OSError, *DECOMPRESS_ERRORS)


def verify_diff_id(store: Store, layer: Layer) -> None:
    """A fetched layer's tar must be the one its record claims: the diff_id goes into the
    image's config unchecked otherwise."""
    try:
        with store.open_blob(layer.descriptor.digest) as raw, open_decompressed(raw) as tar:
            diff_id, _size = sha256_file(tar)
    except _UNREADABLE as exc:
        raise ArchiveError(
            f"cached layer {layer.descriptor.digest} cannot be read: {exc}"
        ) from None
    if diff_id != layer.diff_id:
        raise IntegrityError(
            f"cached layer {layer.descriptor.digest} does not unpack to its diff_id {layer.diff_id}"
        )


class SharedCache:
    """The imported records of one build, and where its own record goes.

    ``sources`` are read once, in order; the first that lists a key wins.  A source that
    fails to load, or an entry whose layer fails to fetch, is reported as a warning and
    left out; the build then makes those steps itself.
    """

    def __init__(
        self,
        sources: Iterable[CacheBackend],
        sink: CacheBackend | None,
        reporter: Reporter,
        *,
        mode: str = "min",
    ) -> None:
        self.sources = tuple(sources)
        self.sink = sink
        self.mode = mode
        self.reporter = reporter
        self._entries: dict[str, tuple[Layer, CacheBackend]] | None = None
        self._refused: set[str] = set()
        self._lock = threading.Lock()  # stages built side by side look up at the same time

    def _load(self) -> dict[str, tuple[Layer, CacheBackend]]:
        """The sources are read on the first lookup: a build whose steps all hit the local
        cache never contacts them."""
        with self._lock:
            return self._load_locked()

    def _load_locked(self) -> dict[str, tuple[Layer, CacheBackend]]:
        if self._entries is None:
            entries: dict[str, tuple[Layer, CacheBackend]] = {}
            for source in self.sources:
                try:
                    record = source.load()
                except (DistrolessError, OSError) as exc:
                    self.reporter.event("warning", message=f"cache {source} not used: {exc}")
                    continue
                self.reporter.event("cache.import", source=str(source), steps=len(record.entries))
                for key, layer in record.entries.items():
                    entries.setdefault(key, (layer, source))
            self._entries = entries
        return self._entries

    def get(self, key: str) -> Layer | None:
        if key in self._refused:
            return None
        found = self._load().get(key)
        return None if found is None else found[0]

    def fetch(self, key: str, store: Store) -> Layer:
        """Bring the layer of ``key`` into ``store``; raises what went wrong."""
        layer, source = self._load()[key]
        source.fetch(layer.descriptor, store)
        verify_diff_id(store, layer)
        self.reporter.event(
            "cache.fetch", key=key, digest=layer.descriptor.digest, size=layer.descriptor.size
        )
        return layer

    def refuse(self, key: str, reason: str) -> None:
        self._refused.add(key)
        self.reporter.event("warning", message=f"cached step {key[:12]} refused: {reason}")

    def export(self, entries: Mapping[str, Layer], store: Store) -> None:
        """Write this build's record to the sink; a failure is a warning, the build stands."""
        if self.sink is None:
            return
        try:
            known = self._entries or {}
            origins: dict[str, object] = {
                layer.descriptor.digest: known[key][1]
                for key, layer in entries.items()
                if key in known
            }
            kept = self.sink.save(CacheRecord(dict(entries)), store, origins)
        except (DistrolessError, OSError) as exc:
            self.reporter.event("warning", message=f"cache {self.sink} not written: {exc}")
            return
        self.reporter.event("cache.export", sink=str(self.sink), steps=kept, mode=self.mode)
