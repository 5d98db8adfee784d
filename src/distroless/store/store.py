"""The local store: an OCI image layout on disk with tags, locks, garbage collection and fsck.

The store root *is* an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256``),
so ``skopeo inspect oci:<root>:<name>`` and ``umoci`` read it directly.  Tags are the
``org.opencontainers.image.ref.name`` annotations of ``index.json``; other roots (the build
cache, attached SBOMs) are entries of the same index carrying ``io.distroless.root``, so one
reachability walk decides what ``prune`` may delete.  A root that also carries
``io.distroless.subject`` is an attachment (an SBOM of an image): it lives exactly as long as
its subject is reachable from something else, and ``prune`` drops it with its image.

Concurrency: ``index.json`` changes under an exclusive ``index.lock``; every writer holds a
shared ``gc.lock`` for its whole session (:meth:`Store.session`) and ``prune`` takes it
exclusively, so a blob written but not yet tagged is never collected.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import platform as host_platform
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from distroless.errors import DistrolessError, NotFoundError, ReferenceFormatError, StoreError
from distroless.oci import mediatypes as mt
from distroless.oci.digest import CHUNK, Digest, hex_of, is_digest, sha256_file
from distroless.oci.models import Descriptor, ImageConfig, Index, Manifest, Platform, load_json
from distroless.oci.reference import Reference
from distroless.store.atomic import BlobWriter, atomic_blob, atomic_write_bytes

REF_NAME = "org.opencontainers.image.ref.name"
IMAGE_NAME = "io.containerd.image.name"
ROOT_KIND = "io.distroless.root"
SUBJECT = "io.distroless.subject"
LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'

_MACHINE_TO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}


def host_platform_default() -> Platform:
    machine = host_platform.machine()
    return Platform(os="linux", architecture=_MACHINE_TO_ARCH.get(machine, machine))


def normalize_name(name: str) -> str:
    """The form a tag is stored under: docker's short form, always with a tag."""
    ref = Reference.parse(name)
    if ref.digest is not None:
        raise ReferenceFormatError(f"cannot tag with a digest reference {name!r}")
    return ref.familiar()


@dataclass(frozen=True)
class StoredImage:
    """One single-platform image in the store, with its documents already parsed."""

    name: str
    descriptor: Descriptor
    manifest: Manifest
    config: ImageConfig
    config_bytes: bytes

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return self.manifest.layers

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest


@dataclass(frozen=True)
class PruneResult:
    blobs: int
    bytes: int


class Store:
    """A store rooted at ``root``; created on first use."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs" / "sha256"
        self.tmp = self.root / "tmp"
        self._transactions: list[list[Path]] = []
        try:
            for path in (self.blobs, self.tmp, self.root / "state"):
                path.mkdir(parents=True, exist_ok=True)
            if not self._layout_complete():
                # Under the index lock: a second process creating the store at the same time
                # must not replace an index.json that the first has already tagged into.
                with self.lock():
                    if not (self.root / "oci-layout").exists():
                        atomic_write_bytes(self.root / "oci-layout", LAYOUT)
                    if not (self.root / "index.json").exists():
                        self._write_index([])
        except PermissionError as exc:
            raise StoreError(f"cannot create the store at {self.root}: {exc.strerror}") from exc

    def _layout_complete(self) -> bool:
        return (self.root / "oci-layout").exists() and (self.root / "index.json").exists()

    # -- blobs ---------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / hex_of(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            return self.blob_path(digest).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is not in the store at {self.root}") from None

    def read_blob(self, digest: str) -> bytes:
        with self.open_blob(digest) as fh:
            return fh.read()

    @contextlib.contextmanager
    def write_blob(self, expected: Digest | None = None) -> Iterator[BlobWriter]:
        """Stream a blob in; it becomes visible only when complete and verified."""
        with atomic_blob(self.tmp, self.blobs, expected) as writer:
            yield writer
        if writer.created is not None and self._transactions:
            self._transactions[-1].append(writer.created)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Undo the blobs this block created if it fails, so bad input leaves no trace.

        Enter it *outside* the :meth:`session` of the same work: the undo (:meth:`discard`)
        can only remove blobs once that session's shared lock is released.
        """
        created: list[Path] = []
        self._transactions.append(created)
        try:
            yield
        except BaseException:
            self.discard(created)
            raise
        finally:
            self._transactions.pop()
            if self._transactions:
                self._transactions[-1].extend(created)

    def discard(self, created: list[Path]) -> None:
        """Remove blobs that a failed writer created, unless another writer may rely on them.

        Blobs are shared by content: a writer that found these bytes already stored did not
        write them, and removing them would leave it tagging an image with a hole in it. So
        they go only while no other session is open (``gc.lock`` taken exclusively, without
        waiting) and only if no tag or root reaches them; otherwise ``prune`` collects them.
        """
        if not created:
            return
        fd = os.open(self.root / "gc.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with self.lock():
                keep = set(self.reachable())
                for path in created:
                    if f"sha256:{path.name}" not in keep:
                        path.unlink(missing_ok=True)
        except (OSError, DistrolessError):
            pass  # another writer is active, or the store is unreadable: prune decides later
        finally:
            os.close(fd)

    def put_bytes(self, data: bytes, expected: Digest | None = None) -> Digest:
        with self.write_blob(expected) as writer:
            writer.write(data)
        return writer.digest

    def put_file(self, fileobj: BinaryIO, expected: Digest | None = None) -> tuple[Digest, int]:
        with self.write_blob(expected) as writer:
            while chunk := fileobj.read(CHUNK):
                writer.write(chunk)
        return writer.digest, writer.size

    def put_manifest(self, manifest: Manifest, platform: Platform | None = None) -> Descriptor:
        data = manifest.to_bytes()
        digest = self.put_bytes(data)
        return Descriptor(manifest.media_type, digest, len(data), platform=platform)

    def put_index(self, index: Index) -> Descriptor:
        data = index.to_bytes()
        digest = self.put_bytes(data)
        return Descriptor(index.media_type, digest, len(data))

    # -- locks ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _flock(self, name: str, exclusive: bool) -> Iterator[None]:
        try:
            fd = os.open(self.root / name, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            # A read-only store (a read-only mount) is still read under a shared lock, as
            # flock needs no write access; one whose lock file never existed is read
            # unlocked (a blob pruned meanwhile is then a clear "not in the store").
            if exclusive or exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            try:
                fd = os.open(self.root / name, os.O_RDONLY)
            except FileNotFoundError:
                yield
                return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def lock(self, exclusive: bool = True) -> contextlib.AbstractContextManager[None]:
        """Lock ``index.json`` for a read-modify-write."""
        return self._flock("index.lock", exclusive)

    def session(self) -> contextlib.AbstractContextManager[None]:
        """Held (shared) by every writer so that ``prune`` never collects its fresh blobs."""
        return self._flock("gc.lock", exclusive=False)

    # -- index.json ----------------------------------------------------------------------

    def _read_index(self) -> list[Descriptor]:
        path = self.root / "index.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        return list(Index.from_dict(load_json(data, str(path))).manifests)

    def _write_index(self, entries: list[Descriptor]) -> None:
        atomic_write_bytes(self.root / "index.json", Index(tuple(entries)).to_bytes())

    def entries(self) -> list[Descriptor]:
        return self._read_index()

    def tag(self, name: str, desc: Descriptor) -> str:
        """Point ``name`` at ``desc`` (replacing an older target); returns the stored name."""
        stored = normalize_name(name)
        if not self.has_blob(desc.digest):
            raise NotFoundError(f"cannot tag {stored}: {desc.digest} is not in the store")
        full = str(Reference.parse(stored))
        entry = Descriptor(
            desc.media_type,
            desc.digest,
            desc.size,
            annotations={REF_NAME: stored, IMAGE_NAME: full},
            platform=desc.platform,
        )
        self._put_entry(entry, REF_NAME, stored)
        return stored

    def _put_entry(self, entry: Descriptor, key: str, value: str) -> None:
        """Replace the index entry whose annotation ``key`` is ``value`` with ``entry``."""
        with self.lock():
            kept = [d for d in self._read_index() if d.annotations.get(key) != value]
            kept.append(entry)
            kept.sort(
                key=lambda d: (
                    d.annotations.get(REF_NAME, ""),
                    d.annotations.get(ROOT_KIND, ""),
                    d.digest,
                )
            )
            self._write_index(kept)

    def untag(self, name: str) -> Descriptor:
        stored = normalize_name(name)
        with self.lock():
            entries = self._read_index()
            found = [d for d in entries if d.annotations.get(REF_NAME) == stored]
            if not found:
                raise NotFoundError(f"no image named {stored} in the store")
            self._write_index([d for d in entries if d.annotations.get(REF_NAME) != stored])
        return found[0]

    def add_root(self, kind: str, key: str, desc: Descriptor) -> None:
        """Keep ``desc`` reachable under ``kind:key`` (build cache entries, attachments)."""
        marker = f"{kind}:{key}"
        entry = Descriptor(
            desc.media_type,
            desc.digest,
            desc.size,
            annotations={**desc.annotations, ROOT_KIND: marker},
        )
        self._put_entry(entry, ROOT_KIND, marker)

    def find_root(self, kind: str, key: str) -> Descriptor | None:
        marker = f"{kind}:{key}"
        for d in self._read_index():
            if d.annotations.get(ROOT_KIND) == marker and self.has_blob(d.digest):
                return d
        return None

    def roots(self, kind: str) -> list[tuple[str, Descriptor]]:
        prefix = f"{kind}:"
        return [
            (d.annotations[ROOT_KIND][len(prefix) :], d)
            for d in self._read_index()
            if d.annotations.get(ROOT_KIND, "").startswith(prefix)
        ]

    def drop_roots(self, kind: str) -> int:
        prefix = f"{kind}:"
        with self.lock():
            entries = self._read_index()
            kept = [d for d in entries if not d.annotations.get(ROOT_KIND, "").startswith(prefix)]
            self._write_index(kept)
        return len(entries) - len(kept)

    def refs(self) -> list[tuple[str, Descriptor]]:
        return sorted(
            (d.annotations[REF_NAME], d) for d in self._read_index() if REF_NAME in d.annotations
        )

    def resolve(self, name_or_digest: str) -> Descriptor:
        """A tag, a full digest, or a unique digest prefix of a tagged image."""
        entries = self._read_index()
        if is_digest(name_or_digest):
            for d in entries:
                if d.digest == name_or_digest:
                    return d
            if self.has_blob(name_or_digest):
                return self._describe_blob(Digest(name_or_digest))
            raise NotFoundError(f"no image with digest {name_or_digest} in the store")
        try:
            stored = normalize_name(name_or_digest)
        except ReferenceFormatError:
            stored = None
        for d in entries:
            if stored is not None and d.annotations.get(REF_NAME) == stored:
                return d
        prefix = name_or_digest.removeprefix("sha256:")
        if len(prefix) >= 6 and all(c in "0123456789abcdef" for c in prefix):
            hits = {d.digest: d for d in entries if d.digest[7:].startswith(prefix)}
            if len(hits) == 1:
                return next(iter(hits.values()))
        if stored is None:
            Reference.parse(name_or_digest)  # raises the precise format error
        raise NotFoundError(
            f"image {stored or name_or_digest} is not in the store; build it, or bring it in with "
            "`distroless load` or `distroless pull`"
        )

    def _describe_blob(self, digest: Digest) -> Descriptor:
        data = self.read_blob(digest)
        doc = load_json(data, f"blob {digest}")
        media = str(
            doc.get("mediaType") or (mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST)
        )
        return Descriptor(media, digest, len(data))

    def read_index(self, desc: Descriptor) -> Index:
        return Index.from_bytes(self.read_blob(desc.digest))

    def read_manifest(self, desc: Descriptor) -> Manifest:
        return Manifest.from_bytes(self.read_blob(desc.digest))

    def platforms(self, name: str) -> list[Platform]:
        desc = self.resolve(name)
        if mt.is_index(desc.media_type):
            return [d.platform for d in self.read_index(desc).manifests if d.platform]
        manifest = self.read_manifest(desc)
        return [ImageConfig.from_bytes(self.read_blob(manifest.config.digest)).platform]

    def load_image(self, name: str, platform: Platform | None = None) -> StoredImage:
        """The single-platform image ``name`` (an index is resolved to ``platform``)."""
        desc = self.resolve(name)
        wanted = platform or host_platform_default()
        if mt.is_index(desc.media_type):
            index = self.read_index(desc)
            chosen = index.for_platform(wanted)
            if chosen is None:
                offered = ", ".join(str(d.platform) for d in index.manifests if d.platform)
                raise NotFoundError(f"image {name} has no {wanted} variant (it has: {offered})")
            desc = chosen
        elif not mt.is_manifest(desc.media_type):
            raise NotFoundError(f"{name} is not an image (media type {desc.media_type})")
        manifest = self.read_manifest(desc)
        config_bytes = self.read_blob(manifest.config.digest)
        config = ImageConfig.from_bytes(config_bytes)
        if platform is not None and not platform.matches(config.platform):
            raise NotFoundError(f"image {name} is {config.platform}, not {platform}")
        return StoredImage(name, desc, manifest, config, config_bytes)

    def state_dir(self, *parts: str) -> Path:
        path = self.root.joinpath("state", *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- reachability, prune, fsck -------------------------------------------------------

    def _children(self, desc: Descriptor) -> list[Descriptor]:
        if mt.is_index(desc.media_type):
            return list(self.read_index(desc).manifests)
        if mt.is_manifest(desc.media_type):
            manifest = self.read_manifest(desc)
            out = [manifest.config, *manifest.layers]
            if manifest.subject is not None and self.has_blob(manifest.subject.digest):
                out.append(manifest.subject)
            return out
        return []

    def _walk(self, start: list[Descriptor], seen: dict[Digest, Descriptor]) -> None:
        stack = list(start)
        while stack:
            desc = stack.pop()
            if desc.digest in seen:
                continue
            seen[desc.digest] = desc
            if self.has_blob(desc.digest):
                stack.extend(self._children(desc))

    def _live(self, entries: list[Descriptor]) -> tuple[dict[Digest, Descriptor], list[Descriptor]]:
        """What is reachable, and the attachments whose subject is not (they are orphans).

        Attachments are walked only once their subject is reached by something else: an SBOM
        names its image as subject, and must not keep an image alive that was removed.
        """
        seen: dict[Digest, Descriptor] = {}
        self._walk([d for d in entries if SUBJECT not in d.annotations], seen)
        pending = [d for d in entries if SUBJECT in d.annotations]
        progress = True
        while progress:  # an attachment may itself be the subject of another one
            progress = False
            for desc in list(pending):
                if desc.annotations[SUBJECT] in seen:
                    pending.remove(desc)
                    self._walk([desc], seen)
                    progress = True
        return seen, pending

    def reachable(self) -> dict[Digest, Descriptor]:
        return self._live(self._read_index())[0]

    def prune(self) -> PruneResult:
        """Delete blobs no tag or root reaches, and temp files of dead writers."""
        removed = 0
        freed = 0
        with self._flock("gc.lock", exclusive=True), self.lock():
            entries = self._read_index()
            live, orphans = self._live(entries)
            if orphans:
                self._write_index([d for d in entries if d not in orphans])
            keep = set(live)
            for path in sorted(self.blobs.iterdir()):
                if f"sha256:{path.name}" not in keep:
                    freed += path.stat().st_size
                    path.unlink()
                    removed += 1
            for path in self.tmp.iterdir():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)  # the spool directory of a killed `load -i -`
                else:
                    path.unlink(missing_ok=True)
            # Temp files of index.json/oci-layout writers that were killed; every such writer
            # holds the index lock, which is ours now, so none of these is still being written.
            for path in self.root.iterdir():
                if path.name.startswith((".index.json-", ".oci-layout-")):
                    path.unlink(missing_ok=True)
        return PruneResult(removed, freed)

    def fsck(self) -> list[str]:
        """Problems found: corrupt blobs, missing or mis-sized referenced blobs."""
        problems: list[str] = []
        for path in sorted(self.blobs.iterdir()):
            with path.open("rb") as fh:
                digest, _ = sha256_file(fh)
            if digest != f"sha256:{path.name}":
                problems.append(f"blob sha256:{path.name} is corrupt (content hashes to {digest})")
        for digest, desc in sorted(self.reachable().items()):
            path = self.blob_path(digest)
            if not path.is_file():
                problems.append(f"blob {digest} ({desc.media_type}) is referenced but missing")
            elif path.stat().st_size != desc.size:
                problems.append(
                    f"blob {digest} has size {path.stat().st_size}, its descriptor says {desc.size}"
                )
        return problems
