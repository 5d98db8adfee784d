"""SLSA v1 provenance of a build, as an in-toto Statement v1.

The statement says which image digests a build produced (``subject``), from what
(``buildDefinition``: our build type, the parameters a user chose, every input resolved to a
digest) and by what (``runDetails``: this tool and its version).  It is a pure function of
those inputs: times are ``SOURCE_DATE_EPOCH``, there is no invocation id, JSON is canonical,
so rebuilding the same image gives the same provenance bytes and digest.

Build arguments are user input and are recorded; secrets are not, and must not leak in
through a build argument that carries one.  :func:`provenance_statement` takes the build's
secrets (id -> value) and refuses to produce a statement in which any value appears.

The build type ``urn:distroless:build:v1`` defines ``externalParameters`` as::

    {"source": {"kind": "dockerfile" | "spec", "path": ..., "digest": {"sha256": ...}},
     "context": {"digest": {"sha256": ...}},        # when the build has a context
     "buildArgs": {NAME: VALUE, ...},
     "platform": "linux/amd64",
     "target": STAGE}                               # when one was asked for

and lists as ``resolvedDependencies`` the images used (``FROM`` and ``COPY --from``) by
digest, with ``annotations.role`` ``base`` or ``copy-from``, and the package lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from distroless import __version__
from distroless.errors import BuildError
from distroless.oci.canonical import dumps
from distroless.oci.digest import is_digest
from distroless.timestamps import rfc3339

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:distroless:build:v1"
BUILDER_ID = "urn:distroless:builder"
#: Secret values shorter than this are only looked for as whole strings: a two-letter
#: secret would otherwise be "found" inside every statement.
MIN_SUBSTRING_SECRET = 6


def _digest_set(digest: str) -> dict[str, str]:
    if not is_digest(digest):
        raise ValueError(f"{digest!r} is not a sha256 digest")
    return {"sha256": digest.split(":", 1)[1]}


@dataclass(frozen=True)
class Subject:
    """One artifact the build produced: a name (the image repository) and its digest."""

    name: str
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "digest": _digest_set(self.digest)}


@dataclass(frozen=True)
class ResolvedDependency:
    """An input resolved to content: SLSA's ResourceDescriptor."""

    uri: str
    digest: str
    name: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uri": self.uri, "digest": _digest_set(self.digest)}
        if self.name is not None:
            out["name"] = self.name
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


def image_dependency(
    reference: str,
    digest: str,
    *,
    role: Literal["base", "copy-from"] = "base",
    platform: str | None = None,
    stage: str | None = None,
) -> ResolvedDependency:
    """An image the build read, as a ``pkg:docker`` URI (as BuildKit writes it) and digest.

    ``reference`` is the name as resolved (``docker.io/library/golang:1.22``); ``stage`` the
    Dockerfile stage that used it.
    """
    name, _, tag = reference.partition("@")[0].rpartition(":")
    if not name or "/" in tag:  # no tag: the colon belonged to a registry port
        name, tag = reference.partition("@")[0], ""
    uri = "pkg:docker/" + quote(name, safe="/")
    if tag:
        uri += "@" + quote(tag, safe="")
    if platform:
        uri += "?platform=" + quote(platform, safe="")
    annotations: dict[str, str] = {"role": role}
    if stage:
        annotations["stage"] = stage
    return ResolvedDependency(uri, digest, reference, annotations)


def lock_dependency(path: str, digest: str) -> ResolvedDependency:
    """The package lock the build installed from."""
    return ResolvedDependency("file:" + quote(path), digest, path, {"role": "lock"})


@dataclass(frozen=True)
class BuildParameters:
    """What the user asked for; every field is recorded verbatim."""

    source_kind: Literal["dockerfile", "spec"]
    source_path: str
    source_digest: str
    platform: str
    context_digest: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": {
                "kind": self.source_kind,
                "path": self.source_path,
                "digest": _digest_set(self.source_digest),
            },
            "buildArgs": dict(self.build_args),
            "platform": self.platform,
        }
        if self.context_digest is not None:
            out["context"] = {"digest": _digest_set(self.context_digest)}
        if self.target is not None:
            out["target"] = self.target
        return out


def statement(subjects: Sequence[Subject], predicate_type: str, predicate: Any) -> dict[str, Any]:
    """An in-toto Statement v1 around any predicate."""
    if not subjects:
        raise ValueError("an in-toto statement needs at least one subject")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [s.to_dict() for s in subjects],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def provenance_predicate(
    parameters: BuildParameters,
    dependencies: Sequence[ResolvedDependency],
    *,
    source_date_epoch: int,
    builder_id: str = BUILDER_ID,
    builder_version: str = __version__,
) -> dict[str, Any]:
    """The SLSA v1 provenance predicate; dependencies keep their order, duplicates once."""
    seen: list[dict[str, Any]] = []
    for dep in dependencies:
        entry = dep.to_dict()
        if entry not in seen:
            seen.append(entry)
    when = rfc3339(source_date_epoch)
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": parameters.to_dict(),
            "internalParameters": {"sourceDateEpoch": source_date_epoch},
            "resolvedDependencies": seen,
        },
        "runDetails": {
            "builder": {"id": builder_id, "version": {"distroless": builder_version}},
            "metadata": {"startedOn": when, "finishedOn": when},
        },
    }


def provenance_statement(
    subjects: Sequence[Subject],
    parameters: BuildParameters,
    dependencies: Sequence[ResolvedDependency],
    *,
    source_date_epoch: int,
    secrets: Mapping[str, bytes] | None = None,
    builder_id: str = BUILDER_ID,
    builder_version: str = __version__,
) -> bytes:
    """The statement's canonical JSON bytes; BuildError if it would reveal a secret."""
    doc = statement(
        subjects,
        PREDICATE_TYPE,
        provenance_predicate(
            parameters,
            dependencies,
            source_date_epoch=source_date_epoch,
            builder_id=builder_id,
            builder_version=builder_version,
        ),
    )
    for secret_id, value in (secrets or {}).items():
        where = _find_secret(doc, value, "")
        if where is not None:
            raise BuildError(
                f"the provenance would reveal the value of secret {secret_id!r} "
                f"(in {where}); pass it only with --secret, never as a build argument"
            )
    return dumps(doc)


def _secret_forms(value: bytes) -> set[str]:
    text = value.decode("utf-8", "surrogateescape")
    return {form for form in (text, text.strip()) if form}


def _find_secret(node: Any, value: bytes, path: str) -> str | None:
    """The path of the first string in ``node`` that holds ``value``, or None."""
    if isinstance(node, dict):
        for key, child in node.items():
            here = f"{path}.{key}" if path else str(key)
            if _holds(str(key), value):
                return here
            found = _find_secret(child, value, here)
            if found is not None:
                return found
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found = _find_secret(child, value, f"{path}[{i}]")
            if found is not None:
                return found
    elif isinstance(node, str) and _holds(node, value):
        return path
    return None


def _holds(text: str, value: bytes) -> bool:
    for form in _secret_forms(value):
        if text == form or (len(form) >= MIN_SUBSTRING_SECRET and form in text):
            return True
    return False
