"""Package relationship fields: Depends, Pre-Depends, Provides, Conflicts, Breaks, ….

A field is a comma-separated list of dependencies; each dependency is a ``|``-separated
list of alternatives; each alternative is a package name with an optional architecture
qualifier (``:any``, ``:native``), version constraint (``(>= 2.36)``), architecture
restriction list (``[amd64 !arm64]``) and build-profile formulas (``<!nocheck>``).  The
profiles only matter when building from source, so they are parsed (to reject garbage)
and kept, but nothing here evaluates them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from distroless.debian.version import Version
from distroless.errors import DebianError

# dpkg still accepts the obsolete one-character forms and reads them as <= and >=.
_LEGACY_OPERATORS = {"<": "<=", ">": ">="}

_RELATION_RE = re.compile(
    r"""
    ^(?P<name>[A-Za-z0-9][A-Za-z0-9+.\-]*)
    (?::(?P<qualifier>[a-z0-9][a-z0-9\-]*))?
    \s*
    (?:\(\s*(?P<op><<|<=|>=|>>|=|<|>)\s*(?P<version>[^\s()<>=][^\s()]*)\s*\))?
    \s*
    (?:\[(?P<arches>[^\[\]]*)\])?
    \s*
    (?P<profiles>(?:<[^<>]*>\s*)*)
    $""",
    re.VERBOSE,
)
_ARCH_RE = re.compile(r"^!?[a-z0-9][a-z0-9\-]*$")
_PROFILE_RE = re.compile(r"^!?[a-z0-9][a-z0-9.\-]*$")


@dataclass(frozen=True)
class Constraint:
    """A version constraint such as ``>= 2.36``."""

    op: str
    version: Version

    def satisfied_by(self, version: Version) -> bool:
        order = version.compare(self.version)
        match self.op:
            case "<<":
                return order < 0
            case "<=":
                return order <= 0
            case "=":
                return order == 0
            case ">=":
                return order >= 0
            case ">>":
                return order > 0
        raise DebianError(f"unknown version operator {self.op!r}")

    def __str__(self) -> str:
        return f"{self.op} {self.version}"


@dataclass(frozen=True)
class Relation:
    """One alternative: ``name[:qualifier] [(op version)] [[arches]] [<profiles>]``."""

    name: str
    qualifier: str | None = None
    constraint: Constraint | None = None
    arches: tuple[str, ...] = ()
    profiles: tuple[tuple[str, ...], ...] = ()

    def applies_to(self, arch: str) -> bool:
        """Whether the architecture restriction list (if any) keeps this relation on ``arch``."""
        if not self.arches:
            return True
        negated = self.arches[0].startswith("!")
        for item in self.arches:
            if arch_matches(item.lstrip("!"), arch):
                return not negated
        return negated

    def version_ok(self, version: Version | None) -> bool:
        """Whether a package (or a Provides entry, ``None`` if unversioned) fits the constraint."""
        if self.constraint is None:
            return True
        return version is not None and self.constraint.satisfied_by(version)

    def __str__(self) -> str:
        text = self.name
        if self.qualifier:
            text += f":{self.qualifier}"
        if self.constraint:
            text += f" ({self.constraint})"
        if self.arches:
            text += f" [{' '.join(self.arches)}]"
        for group in self.profiles:
            text += f" <{' '.join(group)}>"
        return text


@dataclass(frozen=True)
class Dependency:
    """One comma-separated element of a relation field: alternatives, first preferred."""

    alternatives: tuple[Relation, ...]

    def __str__(self) -> str:
        return " | ".join(str(r) for r in self.alternatives)


def arch_matches(pattern: str, arch: str) -> bool:
    """Whether an architecture restriction (``amd64``, ``any``, ``linux-any``, ``any-arm64``)
    covers the Debian architecture ``arch`` (assumed to run Linux)."""
    if pattern in ("any", arch):
        return True
    if "-" in pattern:
        os_part, _, cpu_part = pattern.partition("-")
        return os_part in ("any", "linux") and cpu_part in ("any", arch)
    return False


def _parse_relation(text: str, field: str, whole: str) -> Relation:
    cleaned = " ".join(text.split())
    match = _RELATION_RE.match(cleaned)
    if not match:
        raise DebianError(f"invalid {field} entry {cleaned!r} in {whole!r}")
    constraint = None
    if match["op"]:
        op = _LEGACY_OPERATORS.get(match["op"], match["op"])
        try:
            version = Version.parse(match["version"])
        except DebianError as exc:
            raise DebianError(f"invalid {field} entry {cleaned!r}: {exc.message}") from None
        constraint = Constraint(op, version)
    arches: tuple[str, ...] = ()
    if match["arches"] is not None:
        arches = tuple(match["arches"].split())
        bad = [a for a in arches if not _ARCH_RE.match(a)]
        if not arches or bad:
            raise DebianError(f"invalid architecture list in {field} entry {cleaned!r}")
        if len({a.startswith("!") for a in arches}) > 1:
            raise DebianError(f"{field} entry {cleaned!r} mixes negated and plain architectures")
    profiles: list[tuple[str, ...]] = []
    for group in re.findall(r"<([^<>]*)>", match["profiles"] or ""):
        terms = tuple(group.split())
        if not terms or not all(_PROFILE_RE.match(t) for t in terms):
            raise DebianError(f"invalid build profile <{group}> in {field} entry {cleaned!r}")
        profiles.append(terms)
    return Relation(match["name"], match["qualifier"], constraint, arches, tuple(profiles))


def parse_relations(text: str, field: str = "Depends") -> tuple[Dependency, ...]:
    """Parse a relation field's value; ``field`` names it in errors.

    Empty elements between commas are skipped (``a, , b`` is what substitution variables
    often leave behind); an empty alternative (``a | | b``) is an error.
    """
    dependencies: list[Dependency] = []
    whole = " ".join(text.split())
    for element in text.split(","):
        if not element.strip():
            continue
        alternatives = []
        for alternative in element.split("|"):
            if not alternative.strip():
                raise DebianError(f"empty alternative in {field} entry {element.strip()!r}")
            alternatives.append(_parse_relation(alternative, field, whole))
        dependencies.append(Dependency(tuple(alternatives)))
    return tuple(dependencies)


def parse_provides(text: str) -> tuple[Relation, ...]:
    """Parse a Provides field: no alternatives, and versions only with ``=``."""
    provided: list[Relation] = []
    for dependency in parse_relations(text, "Provides"):
        if len(dependency.alternatives) != 1:
            raise DebianError(f"Provides entry {str(dependency)!r} cannot have alternatives")
        relation = dependency.alternatives[0]
        if relation.constraint is not None and relation.constraint.op != "=":
            raise DebianError(f"Provides entry {str(relation)!r} may only use '=' for a version")
        provided.append(relation)
    return tuple(provided)
