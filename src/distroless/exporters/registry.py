"""``build --push`` and ``--output type=registry``: the built image pushed to each name.

Each name gets what ``distroless push`` sends: the image, then its referrers (SBOMs,
provenance, signatures), then the tag.  The names are checked before the build starts, so a
name that cannot be pushed to fails in one line with the store untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from distroless.errors import DistrolessError, UsageError
from distroless.exporters.spec import OutputSpec
from distroless.oci.reference import Reference

if TYPE_CHECKING:
    from distroless.oci.models import Descriptor
    from distroless.reporter import Reporter
    from distroless.store import Store
    from distroless.transports.registry import Registries
    from distroless.transports.registry.push import PushResult


def push_references(outputs: Sequence[OutputSpec], tags: Sequence[str]) -> tuple[Reference, ...]:
    """Where the pushing outputs send the image: their ``name=``, else the ``-t`` names.

    :class:`UsageError` for a push with no name at all, or a name that is no reference.
    """
    refs: list[Reference] = []
    for output in outputs:
        if not output.push:
            continue
        names = output.names or tuple(tags)
        if not names:
            raise UsageError(
                "pushing needs a name: give -t host/repo:tag (or name= in --output type=registry)"
            )
        for name in names:
            try:
                refs.append(Reference.parse(name))
            except DistrolessError as exc:
                raise UsageError(f"cannot push to {name!r}: {exc}") from None
    return tuple(dict.fromkeys(refs))


def push_built(
    store: Store,
    desc: Descriptor,
    references: Sequence[Reference],
    *,
    registries: Registries,
    reporter: Reporter | None = None,
) -> list[PushResult]:
    """Push the stored image ``desc`` and its referrers to each of ``references``."""
    from distroless.transports.registry import push

    return [
        push(store, str(desc.digest), ref, registries=registries, reporter=reporter)
        for ref in references
    ]
