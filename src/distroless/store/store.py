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
import shutil
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from distroless.errors import (
    DistrolessError,
    IntegrityError,
    NotFoundError,
    ReferenceFormatError,
    StoreError,
)
from distroless.oci import mediatypes as mt
from distroless.oci.digest import CHUNK, Digest, hex_of, is_digest, sha256_file
from distroless.oci.limits import MAX_MANIFEST_BYTES, check_document_size
from distroless.oci.models import Descriptor, ImageConfig, Index, Manifest, Platform, load_json
from distroless.oci.reference import Reference
from distroless.store.atomic import BlobBatch, BlobWriter, atomic_blob, atomic_write_bytes

REF_NAME = "org.opencontainers.image.ref.name"
IMAGE_NAME = "io.containerd.image.name"
ROOT_KIND = "io.distroless.root"
SUBJECT = "io.distroless.subject"
LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


def normalize_name(name: str) -> str:
    """The form a tag is stored under: docker's short form, always with a tag."""
    ref = Reference.parse(name)
    if ref.digest is not None:
        raise ReferenceFormatError(f"cannot tag with a digest reference {name!r}")
    return ref.familiar()


@dataclass(frozen=True)
class StoredImage:
    """One single-platform image in the store, with its documents already parsed.

    Invariants: ``descriptor`` addresses ``manifest``'s bytes in the store, ``config``
    is parsed from ``config_bytes``, whose digest is ``manifest.config.digest``; ``name``
    is what the caller looked it up by (a tag, a digest or a reference).
    """

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


def _private_root(root: Path) -> None:
    """Create ``root`` private to us, or make sure an existing one is ours and private.

    Everything under the store is readable by its owner only: unpacked layers keep their
    set-uid files and capabilities, and build state may hold secrets, so a local user who
    could walk into the store could use them.  A store created by an older version (0755)
    or by a generous umask is tightened to 0700 on first use, which needs nothing from its
    owner; a store that belongs to someone else is refused, since its owner could change
    what we read and write there, and so is an open directory that holds something else.
    """
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.stat(root)
    except OSError as exc:
        raise StoreError(f"cannot create the store at {root}: {exc.strerror}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"the store at {root} is not a directory")
    uid = os.geteuid()
    if st.st_uid != uid:
        raise StoreError(
            f"the store at {root} belongs to uid {st.st_uid}, not to uid {uid}; use a store "
            "of your own (--root or DISTROLESS_ROOT)"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode == 0o700:
        return
    if not _is_store_or_empty(root):
        # `--root /tmp` must not make /tmp private: only a store (or a fresh directory) is ours
        raise StoreError(
            f"{root} is not a store and other users can enter it (mode {mode:04o}); give "
            "--root a new or empty directory"
        )
    try:
        os.chmod(root, 0o700)
    except OSError as exc:
        raise StoreError(
            f"the store at {root} has mode {mode:04o} and cannot be made private "
            f"({exc.strerror}); run `chmod 700 {root}`"
        ) from exc


#: what a store holds at its top (a store whose creation was cut short has a part of it)
_STORE_NAMES = frozenset(
    {"oci-layout", "index.json", "blobs", "tmp", "state", "index.lock", "gc.lock"}
)


def _is_store_or_empty(root: Path) -> bool:
    try:
        names = {n for n in os.listdir(root) if not n.startswith((".index.json-", ".oci-layout-"))}
    except OSError:
        return False
    return names <= _STORE_NAMES or {"oci-layout", "index.json", "blobs"} <= names


class Store:
    """A store rooted at ``root``; created on first use, private to its owner (0700).

    Invariants: the root is an OCI image layout.  A file under ``blobs/sha256`` is named
    by the sha256 of its bytes: blobs are streamed into ``tmp/`` and renamed into place
    only once hashed and checked.  ``index.json`` (the tags and roots) is replaced whole
    under the store's lock, so a reader sees one complete index or the next.  A failed
    :meth:`transaction` removes the blobs it created, unless another session may be
    using them (then ``prune`` collects them once nothing reaches them).
    """

    def __init__(self, root: Path) -> None:
        # The user's own choice, so trusted: made absolute and free of links once, here, so
        # every state path below it is what the kernel's mount table shows (a relative
        # ``--root`` could not be an overlay's mount point).
        self.root = Path(root).resolve()
        self.blobs = self.root / "blobs" / "sha256"
        self.tmp = self.root / "tmp"
        self._transactions: list[list[Path]] = []
        _private_root(self.root)
        try:
            for path in (self.blobs, self.tmp, self.root / "state"):
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
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
        try:
            return stat.S_ISREG(os.lstat(self.blob_path(digest)).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    def has_descriptor(self, desc: Descriptor) -> bool:
        """Whether ``desc``'s blob is stored, refusing a descriptor whose size is not its own.

        Anything that adds a descriptor to the store (load, copy, layout imports) skips the
        blobs it already has; it must still check their size, or a wrong descriptor enters
        the store unnoticed and only ``fsck`` finds it.  The digest needs no check: a stored
        blob was verified against it when it was written.
        """
        try:
            st = os.lstat(self.blob_path(desc.digest))
        except (FileNotFoundError, NotADirectoryError):
            return False
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(self._not_regular(desc.digest))
        if st.st_size != desc.size:
            raise IntegrityError(
                f"the descriptor of blob {desc.digest} says {desc.size} bytes, the blob has "
                f"{st.st_size}"
            )
        return True

    def _not_regular(self, digest: str) -> str:
        return (
            f"blob {digest} in the store at {self.root} is not a regular file; "
            "run `distroless fsck`"
        )

    def open_blob(self, digest: str) -> BinaryIO:
        """The blob's content; a link, directory or FIFO planted in ``blobs/`` is refused."""
        try:
            return _open_regular(self.blob_path(digest))
        except (FileNotFoundError, NotADirectoryError):
            raise NotFoundError(f"blob {digest} is not in the store at {self.root}") from None
        except _NotRegular:
            raise StoreError(self._not_regular(digest)) from None

    def read_blob(self, digest: str) -> bytes:
        with self.open_blob(digest) as fh:
            return fh.read()

    def read_document(self, desc: Descriptor) -> bytes:
        """The manifest, index or config ``desc`` names, bounded by size before it is read."""
        check_document_size(desc.size, desc.media_type, f"{desc.media_type} {desc.digest}")
        with self.open_blob(desc.digest) as fh:
            actual = os.fstat(fh.fileno()).st_size
            if actual != desc.size:
                raise IntegrityError(
                    f"blob {desc.digest} has {actual} bytes, its descriptor says {desc.size}; "
                    "run `distroless fsck`"
                )
            return fh.read(desc.size)

    @contextlib.contextmanager
    def write_blob(
        self,
        expected: Digest | None = None,
        expected_size: int | None = None,
        *,
        batch: BlobBatch | None = None,
    ) -> Iterator[BlobWriter]:
        """Stream a blob in; it becomes visible only when complete and verified.

        With ``batch`` (from :meth:`batch`) it becomes visible when the batch ends.
        """
        with atomic_blob(self.tmp, self.blobs, expected, expected_size, batch=batch) as writer:
            yield writer
        if writer.created is not None and self._transactions:
            self._transactions[-1].append(writer.created)

    @contextlib.contextmanager
    def batch(self) -> Iterator[BlobBatch]:
        """Blobs written with this batch (from any thread) appear together when it ends.

        Each is synced when complete; at the end they are renamed into place and
        ``blobs/sha256`` is synced once (:class:`~distroless.store.atomic.BlobBatch`).  If
        the block fails, none of them ever appears.  ``batch.created`` then lists the blobs
        that did, for the caller's undo; a :meth:`transaction` around it records them too.
        """
        batch = BlobBatch(self.blobs)
        try:
            yield batch
        except BaseException:
            batch.abandon()
            raise
        created = batch.publish()
        if self._transactions:
            self._transactions[-1].extend(created)

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

    def put_descriptor(self, desc: Descriptor, fileobj: BinaryIO) -> None:
        """Store the blob ``desc`` names from ``fileobj``, checking its digest and its size.

        The size is checked while the bytes flow, so a source that sends more than its
        descriptor says is cut off at the first byte too many.
        """
        with self.write_blob(desc.digest, desc.size) as writer:
            while chunk := fileobj.read(CHUNK):
                writer.write(chunk)

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
        # the store's own index is not bounded like an image's: it lists every tag and root
        return list(Index.from_dict(load_json(data, str(path))).manifests)

    def _write_index(self, entries: list[Descriptor]) -> None:
        atomic_write_bytes(self.root / "index.json", Index(tuple(entries)).to_bytes())

    def entries(self) -> list[Descriptor]:
        return self._read_index()

    def tag(self, name: str, desc: Descriptor) -> str:
        """Point ``name`` at ``desc`` (replacing an older target); returns the stored name."""
        return self.tag_many([(name, desc)])[0]

    def tag_many(self, tags: Iterable[tuple[str, Descriptor]]) -> list[str]:
        """Tag many images in one update of ``index.json`` (a later duplicate name wins).

        One read-modify-write for all of them: an archive with thousands of tags would
        otherwise rewrite (and fsync) the whole index once per tag.
        """
        stored_names: list[str] = []
        entries: list[Descriptor] = []
        for name, desc in tags:
            stored = normalize_name(name)
            if not self.has_blob(desc.digest):
                raise NotFoundError(f"cannot tag {stored}: {desc.digest} is not in the store")
            full = str(Reference.parse(stored))
            entries.append(
                Descriptor(
                    desc.media_type,
                    desc.digest,
                    desc.size,
                    annotations={REF_NAME: stored, IMAGE_NAME: full},
                    platform=desc.platform,
                )
            )
            stored_names.append(stored)
        self._put_entries(REF_NAME, entries)
        return stored_names

    def _put_entries(self, key: str, entries: list[Descriptor]) -> None:
        """Replace the index entries whose annotation ``key`` one of ``entries`` carries."""
        if not entries:
            return
        latest = {d.annotations[key]: d for d in entries}
        with self.lock():
            kept = [d for d in self._read_index() if d.annotations.get(key) not in latest]
            kept.extend(latest.values())
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
        self._put_entries(ROOT_KIND, [entry])

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
        """A tag, a full digest, ``name@digest``, or a unique digest prefix of a tagged image.

        ``name@digest`` is the content the digest names, whatever the name: content is
        addressed by digest, so the name cannot make it another image.
        """
        if "@" in name_or_digest:
            pinned = Reference.parse(name_or_digest).digest
            if pinned is not None:
                return self.resolve(pinned)
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
        with self.open_blob(digest) as fh:
            size = os.fstat(fh.fileno()).st_size
            check_document_size(size, mt.OCI_MANIFEST, f"blob {digest}")
            data = fh.read(MAX_MANIFEST_BYTES + 1)
        check_document_size(len(data), mt.OCI_MANIFEST, f"blob {digest}")
        doc = load_json(data, f"blob {digest}")
        media = str(
            doc.get("mediaType") or (mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST)
        )
        return Descriptor(media, digest, len(data))

    def read_index(self, desc: Descriptor) -> Index:
        return Index.from_bytes(self.read_document(desc))

    def read_manifest(self, desc: Descriptor) -> Manifest:
        return Manifest.from_bytes(self.read_document(desc))

    def read_config(self, manifest: Manifest) -> tuple[ImageConfig, bytes]:
        data = self.read_document(manifest.config)
        return ImageConfig.from_bytes(data), data

    def _variants(self, index: Index) -> list[tuple[Descriptor, Platform]]:
        """Each image of ``index`` with its platform, read from its config when unannounced.

        The platform field of an index entry is optional: an index that leaves it out still
        names images, whose configs say what they run on.
        """
        out = []
        for d in index.manifests:
            if d.platform is not None:
                out.append((d, d.platform))
            elif mt.is_manifest(d.media_type):
                out.append((d, self.read_config(self.read_manifest(d))[0].platform))
        return out

    def platforms(self, name: str) -> list[Platform]:
        desc = self.resolve(name)
        if mt.is_index(desc.media_type):
            return [p for _, p in self._variants(self.read_index(desc))]
        return [self.read_config(self.read_manifest(desc))[0].platform]

    def load_image(self, name: str, platform: Platform | None = None) -> StoredImage:
        """The single-platform image ``name`` (an index is resolved to ``platform``)."""
        desc = self.resolve(name)
        wanted = platform or Platform.host()
        if mt.is_index(desc.media_type):
            index = self.read_index(desc)
            chosen = index.for_platform(wanted)
            if chosen is None:
                variants = self._variants(index)
                found = [d for d, p in variants if d.platform is None and wanted.matches(p)]
                if not found:
                    offered = ", ".join(str(p) for _, p in variants)
                    raise NotFoundError(
                        f"image {name} has no {wanted} variant (it has: {offered or 'none'})"
                    )
                chosen = found[0]
            desc = chosen
        elif not mt.is_manifest(desc.media_type):
            raise NotFoundError(f"{name} is not an image (media type {desc.media_type})")
        manifest = self.read_manifest(desc)
        config, config_bytes = self.read_config(manifest)
        if platform is not None and not platform.matches(config.platform):
            raise NotFoundError(f"image {name} is {config.platform}, not {platform}")
        return StoredImage(name, desc, manifest, config, config_bytes)

    def state_dir(self, *parts: str) -> Path:
        """A directory under ``state/``, private to the store's owner like the store."""
        path = self.root.joinpath("state", *parts)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
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

    def _walk(
        self,
        start: list[Descriptor],
        seen: dict[Digest, Descriptor],
        problems: list[str] | None = None,
    ) -> None:
        """Mark what ``start`` reaches; unreadable documents raise, or go to ``problems``."""
        stack = list(start)
        while stack:
            desc = stack.pop()
            if desc.digest in seen:
                continue
            seen[desc.digest] = desc
            if self.has_blob(desc.digest):
                try:
                    stack.extend(self._children(desc))
                except DistrolessError as exc:
                    if problems is None:
                        raise
                    problems.append(f"{desc.media_type} {desc.digest} cannot be read: {exc}")

    def _live(
        self, entries: list[Descriptor], problems: list[str] | None = None
    ) -> tuple[dict[Digest, Descriptor], list[Descriptor]]:
        """What is reachable, and the attachments whose subject is not (they are orphans).

        Attachments are walked only once their subject is reached by something else: an SBOM
        names its image as subject, and must not keep an image alive that was removed.
        """
        seen: dict[Digest, Descriptor] = {}
        self._walk([d for d in entries if SUBJECT not in d.annotations], seen, problems)
        pending = [d for d in entries if SUBJECT in d.annotations]
        progress = True
        while progress:  # an attachment may itself be the subject of another one
            progress = False
            for desc in list(pending):
                if desc.annotations[SUBJECT] in seen:
                    pending.remove(desc)
                    self._walk([desc], seen, problems)
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
            for path, st in self._blob_entries():
                # what is not a regular file was not written here: fsck names it, prune keeps it
                if f"sha256:{path.name}" not in keep and stat.S_ISREG(st.st_mode):
                    freed += st.st_size
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
        """Problems found: corrupt or foreign blobs, missing or mis-sized referenced blobs."""
        problems = self._check_blob_files()
        live, _ = self._live(self._read_index(), problems)
        for digest, desc in sorted(live.items()):
            try:
                st: os.stat_result | None = os.lstat(self.blob_path(digest))
            except FileNotFoundError:
                st = None
            if st is None:
                problems.append(f"blob {digest} ({desc.media_type}) is referenced but missing")
            elif stat.S_ISREG(st.st_mode) and st.st_size != desc.size:
                problems.append(
                    f"blob {digest} has size {st.st_size}, its descriptor says {desc.size}"
                )
        return problems

    def _blob_entries(self) -> Iterator[tuple[Path, os.stat_result]]:
        for path in sorted(self.blobs.iterdir()):
            with contextlib.suppress(FileNotFoundError):
                yield path, os.lstat(path)

    def _check_blob_files(self) -> list[str]:
        """Hash every regular blob; name whatever else sits in ``blobs/`` without opening it.

        A directory, link or FIFO there was put by hand (or by an attacker): opening a FIFO
        would block fsck forever and a link would hash a file outside the store.
        """
        problems: list[str] = []
        for path, st in self._blob_entries():
            if not stat.S_ISREG(st.st_mode):
                problems.append(
                    f"blobs/sha256/{path.name} is {_file_kind(st.st_mode)}, not a blob; remove it"
                )
                continue
            try:
                with _open_regular(path) as fh:
                    digest, _ = sha256_file(fh)
            except _NotRegular:
                problems.append(f"blobs/sha256/{path.name} is not a regular file; remove it")
                continue
            if digest != f"sha256:{path.name}":
                problems.append(f"blob sha256:{path.name} is corrupt (content hashes to {digest})")
        return problems


class _NotRegular(Exception):
    """A path that should hold a blob holds something else (raised by :func:`_open_regular`)."""


def _open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading, never through a link and never blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise _NotRegular(str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _NotRegular(str(path))
    return os.fdopen(fd, "rb")


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a regular file")
