"""The provenance of a Dockerfile build: what :func:`distroless.build.build_image` attaches
when a request asks for it.

The statement is assembled from what the build actually used, not from what the Dockerfile
says: the images the resolver handed out (``FROM`` and ``COPY --from``, each by the digest
its name resolved to), the bytes of the Dockerfile that was parsed, and a digest of the
context as the build saw it (``.dockerignore`` applied).  Host paths are left out (the
Dockerfile is named relative to the context when it is inside it), so the same build on
another machine gives the same statement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from distroless.dockerfile.content_hashes import ContentHashes
from distroless.dockerfile.context import BuildContext
from distroless.oci.models import Descriptor
from distroless.oci.reference import Reference
from distroless.sign.provenance import (
    BuildParameters,
    ResolvedDependency,
    Subject,
    image_dependency,
    lock_dependency,
    provenance_statement,
)
from distroless.store import Store
from distroless.store.store import normalize_name
from distroless.verify.attach import attach_provenance

if TYPE_CHECKING:
    from distroless.build import DockerfileRequest, SpecRequest
    from distroless.dockerfile.executor import BuildResult
    from distroless.dockerfile.resolve_base import UsedImage
    from distroless.exporters.spec import OutputSpec
    from distroless.oci.models import Platform
    from distroless.spec.model import ImageSpec

__all__ = [
    "attach_dockerfile_provenance",
    "attach_spec_provenance",
    "context_digest",
    "dockerfile_dependencies",
]


def context_digest(store_root: Path, context: Path, dockerfile: Path | None) -> str:
    """The sha256 of every path the build could read: names, types, modes, bytes, links.

    Files the store has hashed before are not read again (their records are kept)."""
    hashes = ContentHashes.for_context(store_root, context)
    ctx = BuildContext.load(context, dockerfile, hashes)
    digest = "sha256:" + ctx.digest(ctx.match(".", "the build context"))
    hashes.save()
    return digest


def dockerfile_dependencies(used: Sequence[UsedImage]) -> list[ResolvedDependency]:
    return [
        image_dependency(
            str(Reference.parse(u.name)), u.descriptor.digest, role=u.role, platform=str(u.platform)
        )
        for u in used
    ]


def _shown_path(dockerfile: Path, context: Path) -> str:
    try:
        return dockerfile.absolute().relative_to(context.absolute()).as_posix()
    except ValueError:
        return dockerfile.name


def _pushed_names(outputs: Sequence[OutputSpec]) -> tuple[str, ...]:
    """The ``name=`` of the outputs that push: the statement names those repositories too."""
    return tuple(name for output in outputs if output.push for name in output.names)


def _subjects(tags: Sequence[str], digest: str) -> list[Subject]:
    names = dict.fromkeys(Reference.parse(normalize_name(t)).name for t in tags)
    return [Subject(n, digest) for n in names or ["image"]]


def _file_digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def attach_spec_provenance(
    store: Store,
    request: SpecRequest,
    spec: ImageSpec,
    descriptor: Descriptor,
    platforms: Sequence[Platform],
    tags: Sequence[str],
) -> Descriptor:
    """Attach the provenance of a spec build: the spec file and its package lock by digest.

    A spec reads no images and has no context; its packages are pinned by the lock, whose
    digest stands for every ``.deb`` (each checked against the lock when it was fetched).
    """
    dependencies = []
    if spec.packages and spec.lock_path.is_file():
        dependencies.append(lock_dependency(spec.lock_path.name, _file_digest(spec.lock_path)))
    parameters = BuildParameters(
        source_kind="spec",
        source_path=spec.path.name,
        source_digest=_file_digest(spec.path),
        platform=",".join(str(p) for p in platforms),
    )
    statement = provenance_statement(
        _subjects((*tags, *_pushed_names(request.outputs)), descriptor.digest),
        parameters,
        dependencies,
        source_date_epoch=request.source_date_epoch,
    )
    return attach_provenance(
        store,
        descriptor,
        statement,
        request.provenance_key,
        source_date_epoch=request.source_date_epoch,
    )


def attach_dockerfile_provenance(
    store: Store,
    request: DockerfileRequest,
    results: Sequence[BuildResult],
    used: Sequence[UsedImage],
    *,
    image: Descriptor,
) -> Descriptor:
    """Attach the SLSA provenance of a build to ``image``; the referrer's descriptor.

    ``results`` are the builds of each platform (``image`` is the index over them when
    there are several); the statement names them all in ``platform`` and lists every image
    any of them used.  A build argument holding a secret's value stops here with a
    BuildError, before anything is written: the statement must never carry a secret.
    """
    first = results[0]
    assert first.dockerfile is not None and first.dockerfile_digest is not None
    subjects = _subjects((*request.tags, *_pushed_names(request.outputs)), image.digest)
    parameters = BuildParameters(
        source_kind="dockerfile",
        source_path=_shown_path(first.dockerfile, request.context),
        source_digest=first.dockerfile_digest,
        platform=",".join(str(r.config.platform) for r in results),
        context_digest=context_digest(store.root, request.context, request.dockerfile),
        build_args=dict(request.build_args),
        target=request.target,
    )
    statement = provenance_statement(
        subjects,
        parameters,
        dockerfile_dependencies(used),
        source_date_epoch=request.source_date_epoch,
        secrets={s.id: s.value for s in request.secrets.values()},
    )
    return attach_provenance(
        store,
        image,
        statement,
        request.provenance_key,
        source_date_epoch=request.source_date_epoch,
    )
