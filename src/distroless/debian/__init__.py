"""Debian packages: control files, versions, relations, resolution and the lockfile.

The pure core is re-exported here, loaded on first use: reading one control file (as an
SBOM does) must not pay for loading the resolver.  The archive side (mirrors, InRelease
verification, downloads, .deb reading) lives in its own modules and is imported from them
directly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distroless.debian.deb822 import (
        Paragraph,
        dump,
        dump_paragraphs,
        iter_paragraphs,
        parse_paragraph,
        parse_paragraphs,
    )
    from distroless.debian.lockfile import (
        LockedPackage,
        LockedSuite,
        Lockfile,
        SpecInputs,
        check_lock_matches,
    )
    from distroless.debian.relations import (
        Constraint,
        Dependency,
        Relation,
        parse_provides,
        parse_relations,
    )
    from distroless.debian.resolver import (
        Package,
        PackageIndex,
        check_conflicts,
        install_order,
        parse_request,
        resolve,
    )
    from distroless.debian.version import Version, compare_versions

_MODULES = {
    "Constraint": "distroless.debian.relations",
    "Dependency": "distroless.debian.relations",
    "LockedPackage": "distroless.debian.lockfile",
    "LockedSuite": "distroless.debian.lockfile",
    "Lockfile": "distroless.debian.lockfile",
    "Package": "distroless.debian.resolver",
    "PackageIndex": "distroless.debian.resolver",
    "Paragraph": "distroless.debian.deb822",
    "Relation": "distroless.debian.relations",
    "SpecInputs": "distroless.debian.lockfile",
    "Version": "distroless.debian.version",
    "check_conflicts": "distroless.debian.resolver",
    "check_lock_matches": "distroless.debian.lockfile",
    "compare_versions": "distroless.debian.version",
    "dump": "distroless.debian.deb822",
    "dump_paragraphs": "distroless.debian.deb822",
    "install_order": "distroless.debian.resolver",
    "iter_paragraphs": "distroless.debian.deb822",
    "parse_paragraph": "distroless.debian.deb822",
    "parse_paragraphs": "distroless.debian.deb822",
    "parse_provides": "distroless.debian.relations",
    "parse_relations": "distroless.debian.relations",
    "parse_request": "distroless.debian.resolver",
    "resolve": "distroless.debian.resolver",
}


__all__ = [
    "Constraint",
    "Dependency",
    "LockedPackage",
    "LockedSuite",
    "Lockfile",
    "Package",
    "PackageIndex",
    "Paragraph",
    "Relation",
    "SpecInputs",
    "Version",
    "check_conflicts",
    "check_lock_matches",
    "compare_versions",
    "dump",
    "dump_paragraphs",
    "install_order",
    "iter_paragraphs",
    "parse_paragraph",
    "parse_paragraphs",
    "parse_provides",
    "parse_relations",
    "parse_request",
    "resolve",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
