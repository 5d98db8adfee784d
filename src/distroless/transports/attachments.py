"""Attachments (referrers and cosign signature manifests) in OCI layouts and tarballs.

The store is itself an OCI layout and keeps an image's attachments as entries of its
``index.json`` annotated with the image they belong to (``io.distroless.subject``).  Layouts
and archives written by ``copy`` and ``save`` carry them the same way: each attachment is an
``index.json`` entry with that annotation (a signature manifest also gets its cosign tag,
``sha256-<hex>.sig``, as ``ref.name``), and its blobs sit with the image's.  Reading such a
layout or archive brings them back into the store beside the image; entries of that kind
are never taken for images of their own.

What a layout or archive says is untrusted: an attachment is imported only for an image
imported with it, its blobs are verified like the image's (:func:`walk_descriptors`), and a
referrer must name that image as its subject.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import BinaryIO

from distroless.errors import IntegrityError
from distroless.oci import mediatypes as mt
from distroless.oci.models import Descriptor, Index, Manifest
from distroless.store import Store
from distroless.store.referrers import (
    SIGNATURE_TAG_ROOT,
    attach_referrer,
    attach_signature_manifest,
    attachments,
)
from distroless.store.store import REF_NAME, ROOT_KIND, SUBJECT
from distroless.transports.walk import ReadDocument, read_verified, walk_descriptors

_SIG_TAG = re.compile(r"^sha256-[0-9a-f]{64}\.sig$")


def is_attachment(entry: Descriptor) -> bool:
    """Whether an ``index.json`` entry is an attachment rather than an image."""
    return SUBJECT in entry.annotations


def subjects_of(desc: Descriptor, read: ReadDocument) -> list[str]:
    """The digests attachments of image ``desc`` may name: itself and its platforms."""
    out: list[str] = [desc.digest]
    if mt.is_index(desc.media_type):
        out += [d.digest for d in Index.from_bytes(read_verified(desc, read)).manifests]
    return out


def exported(store: Store, desc: Descriptor) -> list[tuple[Descriptor, list[Descriptor]]]:
    """Each attachment of ``desc`` in the store: its layout entry and the blobs it needs."""
    out = []
    for entry in attachments(store, subjects_of(desc, store.read_document)):
        subject = entry.annotations[SUBJECT]
        annotations = {SUBJECT: subject}
        if entry.annotations.get(ROOT_KIND, "").startswith(SIGNATURE_TAG_ROOT + ":"):
            annotations[REF_NAME] = subject.replace(":", "-", 1) + ".sig"
        plain = Descriptor(entry.media_type, entry.digest, entry.size)
        layout_entry = Descriptor(
            entry.media_type,
            entry.digest,
            entry.size,
            annotations=annotations,
            artifact_type=entry.artifact_type,
        )
        out.append((layout_entry, list(walk_descriptors(plain, store.read_document))))
    return out


def import_attachments(
    store: Store,
    entries: Iterable[Descriptor],
    subjects: Iterable[str],
    read: ReadDocument,
    open_blob: Callable[[Descriptor], BinaryIO],
    what: str,
) -> int:
    """Bring the attachments among ``entries`` of the imported ``subjects`` into ``store``.

    Every attachment is checked before any becomes a root, so one that lies leaves no
    entry in the store's index (its blobs go with the caller's transaction).
    """
    wanted = set(subjects)
    roots: list[tuple[str, Descriptor, bytes | None]] = []
    for entry in entries:
        subject = entry.annotations.get(SUBJECT)
        if subject not in wanted or not mt.is_manifest(entry.media_type):
            continue
        plain = Descriptor(entry.media_type, entry.digest, entry.size)
        for desc in walk_descriptors(plain, read, what):
            if not store.has_descriptor(desc):
                with open_blob(desc) as fh:
                    store.put_descriptor(desc, fh)
        data = store.read_document(plain)
        manifest = Manifest.from_bytes(data)
        if manifest.subject is not None:
            if manifest.subject.digest != subject:
                raise IntegrityError(
                    f"{what}: attachment {entry.digest} names {manifest.subject.digest}, "
                    f"not {subject}"
                )
            roots.append((subject, plain, data))
        elif _SIG_TAG.match(entry.annotations.get(REF_NAME, "")):
            if entry.annotations[REF_NAME] != subject.replace(":", "-", 1) + ".sig":
                raise IntegrityError(f"{what}: signature manifest {entry.digest} is misnamed")
            roots.append((subject, plain, None))
    for subject, plain, document in roots:
        if document is None:
            attach_signature_manifest(store, subject, plain)
        else:
            attach_referrer(store, plain, document)
    return len(roots)
