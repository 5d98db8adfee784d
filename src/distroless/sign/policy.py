"""Verified inputs: whether an image may be used, by the policy of the user's config.

``config.toml`` names, per registry or repository glob, what an image must have to be
pulled or built on (:class:`~distroless.registry_config.PolicyRule`): a cosign signature by one of
some public keys (``signed-by``), or a reference pinned by digest (``digest-pinned``).  The
most specific matching rule applies; an image no rule covers is accepted.

:func:`check_image_policy` is the one decision, used by ``pull`` before it fetches a layer
and by builds for ``FROM`` and ``COPY --from``.  It needs the image's signatures, which come
from wherever the image is: the store (:class:`StoreSignatures`, what a build has), or the
registry documents a pull has just fetched (:class:`FetchedSignatures`).  Base images built
locally from the built-in recipes are exempt (``built_locally``): their packages were
checked against Debian's archive keyring when they were fetched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from distroless.errors import DistrolessError, InputError, PolicyError
from distroless.oci.models import Descriptor
from distroless.oci.reference import Reference
from distroless.registry_config import PolicyRule, UserConfig
from distroless.sign.cosign_layout import Signature, verify_any
from distroless.sign.keys import PublicKey, key_id, load_public_key
from distroless.store import Store


@runtime_checkable
class SignatureSource(Protocol):
    """Where the signatures of an image are found, by its manifest digest."""

    def signatures(self, digest: str) -> Sequence[Signature]: ...


@dataclass(frozen=True)
class StoreSignatures:
    """The signatures the local store holds (signed here, or brought in by pull or load)."""

    store: Store

    def signatures(self, digest: str) -> Sequence[Signature]:
        from distroless.sign.local import stored_signatures

        return stored_signatures(self.store, digest)


@dataclass(frozen=True)
class FetchedSignatures:
    """Signatures already read from somewhere (a registry), by image digest."""

    by_digest: Mapping[str, Sequence[Signature]] = field(default_factory=dict)

    def signatures(self, digest: str) -> Sequence[Signature]:
        return self.by_digest.get(digest, ())


@dataclass(frozen=True)
class PolicyDecision:
    """Why an image was accepted: the rule that applied (None: no rule) and the key used."""

    reference: str
    digest: str
    rule: PolicyRule | None
    key_id: str | None = None
    exempt: bool = False


def _public_key(path: str, rule: PolicyRule) -> PublicKey:
    try:
        data = open(path, "rb").read()  # noqa: SIM115 (a small trusted file of the user's)
    except OSError as exc:
        raise InputError(
            f"{rule.source}: policy {rule.pattern!r}: key {path} cannot be read ({exc.strerror})"
        ) from None
    return load_public_key(data, source=f"{rule.source}: policy {rule.pattern!r}: key {path}")


def check_image_policy(
    config: UserConfig,
    reference: Reference | str,
    descriptor: Descriptor,
    source: Store | SignatureSource,
    *,
    built_locally: bool = False,
) -> PolicyDecision:
    """Accept ``descriptor`` as the image ``reference`` names, or raise PolicyError.

    ``reference`` is the name the image was asked for (as written in ``FROM``, or given to
    ``pull``); ``descriptor`` what it resolved to (its top-level manifest or index: the
    digest signatures name).  The error is one line naming the image, its digest and the
    rule it fails.
    """
    ref = Reference.parse(reference) if isinstance(reference, str) else reference
    shown = str(ref)
    rule = config.policy_for(ref)
    if rule is None:
        return PolicyDecision(shown, descriptor.digest, None)
    if built_locally:
        return PolicyDecision(shown, descriptor.digest, rule, exempt=True)

    def refuse(reason: str) -> PolicyError:
        return PolicyError(
            f"image {shown} ({descriptor.digest[:19]}) is refused by policy "
            f"{rule.pattern!r} ({rule.source}): {reason}"
        )

    if rule.digest_pinned:
        if ref.digest is None:
            raise refuse("it must be referenced by digest (name@sha256:...)")
        if ref.digest != descriptor.digest:
            raise refuse(f"it resolved to another digest than the pinned {ref.digest}")
    used: str | None = None
    if rule.signed_by:
        signatures = (StoreSignatures(source) if isinstance(source, Store) else source).signatures(
            descriptor.digest
        )
        if not signatures:
            raise refuse(f"it needs {rule.describe()} and has no signatures")
        reasons = []
        for path in rule.signed_by:
            key = _public_key(str(path), rule)
            try:
                verify_any(
                    signatures,
                    key,
                    manifest_digest=descriptor.digest,
                    docker_reference=str(Reference(ref.registry, ref.repository, ref.tag)),
                )
            except DistrolessError as exc:
                reasons.append(exc.message)
                continue
            used = key_id(key)
            break
        if used is None:
            raise refuse(f"it needs {rule.describe()}; {reasons[-1]}")
    return PolicyDecision(shown, descriptor.digest, rule, used)


__all__ = [
    "FetchedSignatures",
    "PolicyDecision",
    "SignatureSource",
    "StoreSignatures",
    "check_image_policy",
]
