"""Debian packages: control files, versions, relations, resolution and the lockfile.

The pure core is re-exported here; the archive side (mirrors, InRelease verification,
downloads, .deb reading) lives in its own modules and is imported from them directly.
"""

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
