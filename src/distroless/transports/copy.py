"""``copy SRC DST``: one image from any transport to any other.

Transports: the store (a bare name or ``store:NAME``), ``docker://REF`` (a registry),
``oci:DIR[:TAG]`` (an OCI layout directory), ``oci-archive:FILE`` and
``docker-archive:FILE`` (tarballs).  Everything goes through a store: the user's own when
it is one end, otherwise a staging store removed afterwards, so each transport needs only
"into a store" and "out of a store".  The image's attachments (signatures, SBOMs,
attestations) travel with it through every transport.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from distroless.errors import UsageError
from distroless.oci.models import Descriptor, Platform
from distroless.oci.reference import Reference
from distroless.reporter import Reporter
from distroless.store import Store
from distroless.store.atomic import atomic_file
from distroless.store.referrers import attachments
from distroless.store.store import ROOT_KIND
from distroless.transports import tarball
from distroless.transports.attachments import subjects_of
from distroless.transports.layout import export_layout, import_layout
from distroless.transports.registry import Registries, pull, push
from distroless.transports.walk import walk_descriptors

ARCHIVES = ("oci-archive", "docker-archive")


@dataclass(frozen=True)
class Location:
    kind: str
    target: str  # a name, a reference, or a path
    tag: str | None = None

    @classmethod
    def parse(cls, text: str) -> Location:
        if text.startswith("docker://"):
            return cls("docker", text.removeprefix("docker://"))
        for kind in ("oci-archive", "docker-archive", "oci", "store"):
            prefix = kind + ":"
            if text.startswith(prefix):
                rest = text[len(prefix) :]
                if kind == "store":
                    return cls("store", rest)
                path, sep, tag = rest.partition(":")
                if not path:
                    raise UsageError(f"{text!r}: give a path after {prefix}")
                return cls(kind, path, tag if sep else None)
        return cls("store", text)


@contextlib.contextmanager
def _staging(store: Store) -> Iterator[Store]:
    with tempfile.TemporaryDirectory(dir=store.tmp, prefix="copy-") as tmp:
        yield Store(Path(tmp))


def _into(
    store: Store,
    src: Location,
    *,
    platform: Platform | None,
    all_platforms: bool,
    registries: Registries | None,
    reporter: Reporter | None,
) -> Descriptor:
    if src.kind == "store":
        return store.resolve(src.target)
    if src.kind == "docker":
        result = pull(
            store,
            src.target,
            platform=platform,
            all_platforms=all_platforms,
            registries=registries,
            reporter=reporter,
        )
        return result.descriptor
    if src.kind == "oci":
        return import_layout(store, Path(src.target), src.tag)
    names = tarball.load(store, Path(src.target))
    wanted = names[0] if src.tag is None else Reference.parse(src.tag).familiar()
    if src.tag is not None and wanted not in names:
        raise UsageError(f"{src.target} holds {', '.join(names)}, not {src.tag}")
    return store.resolve(wanted)


def _out_of(
    store: Store,
    desc: Descriptor,
    dst: Location,
    *,
    registries: Registries | None,
    reporter: Reporter | None,
) -> str:
    if dst.kind == "store":
        return store.tag(dst.target, desc)
    if dst.kind == "docker":
        return str(
            push(store, desc.digest, dst.target, registries=registries, reporter=reporter).reference
        )
    if dst.kind == "oci":
        export_layout(store, desc, Path(dst.target), dst.tag)
        return f"oci:{dst.target}" + (f":{dst.tag}" if dst.tag else "")
    name = dst.tag or "image:latest"
    store.tag(name, desc)
    out = Path(dst.target)
    # never a guessable temp name beside the output: a link planted there would be followed
    with atomic_file(out) as fh:
        tarball.save(store, [name], fh, "docker" if dst.kind == "docker-archive" else "oci")
    return f"{dst.kind}:{out}"


def copy(
    store: Store,
    source: str,
    destination: str,
    *,
    platform: Platform | None = None,
    all_platforms: bool = False,
    registries: Registries | None = None,
    reporter: Reporter | None = None,
) -> tuple[Descriptor, str]:
    """Copy ``source`` to ``destination``; returns the image descriptor and where it went."""
    src, dst = Location.parse(source), Location.parse(destination)
    if dst.kind in ARCHIVES and dst.tag is not None:
        Reference.parse(dst.tag)
    with contextlib.ExitStack() as stack:
        # The user's store when it is one end of the copy, otherwise a private one.
        work = store if "store" in (src.kind, dst.kind) else stack.enter_context(_staging(store))
        desc = _into(
            work,
            src,
            platform=platform,
            all_platforms=all_platforms,
            registries=registries,
            reporter=reporter,
        )
        if dst.kind in ARCHIVES and work is store:
            # an archive needs a name inside; give it in a private store so none leaks here
            private = stack.enter_context(_staging(store))
            _copy_blobs(store, private, desc)
            work = private
        where = _out_of(work, desc, dst, registries=registries, reporter=reporter)
    return desc, where


def _copy_blobs(source: Store, target: Store, desc: Descriptor) -> None:
    """The image ``desc`` and its attachments (signatures, SBOMs), from one store to another."""
    for child in walk_descriptors(desc, source.read_document):
        if not target.has_descriptor(child):
            with source.open_blob(child.digest) as fh:
                target.put_descriptor(child, fh)
    for entry in attachments(source, subjects_of(desc, source.read_document)):
        plain = Descriptor(entry.media_type, entry.digest, entry.size)
        for child in walk_descriptors(plain, source.read_document):
            if not target.has_descriptor(child):
                with source.open_blob(child.digest) as fh:
                    target.put_descriptor(child, fh)
        kind, _, key = entry.annotations[ROOT_KIND].partition(":")
        target.add_root(kind, key, entry)
