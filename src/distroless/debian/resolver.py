"""The package index of one architecture and the deterministic dependency resolver.

A distroless image holds a short, exact list of packages and no package manager, so the
resolver is deliberately simpler than apt's: it never removes or downgrades, it takes
the highest version that fits, and every choice (which alternative, which provider of a
virtual package, how a dependency cycle is broken) is a fixed rule over names and
versions, so the same index and request always give the same list in the same order.

The index keeps the raw paragraphs and turns them into :class:`Package` values only
when a name is asked for: a full ``Packages`` file holds tens of thousands of entries of
which an image needs a few dozen.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from distroless.debian.deb822 import Paragraph
from distroless.debian.relations import Dependency, Relation, parse_provides, parse_relations
from distroless.debian.version import Version
from distroless.errors import DebianError


@dataclass(frozen=True)
class Package:
    """One binary package as a Packages index describes it."""

    name: str
    version: Version
    architecture: str
    depends: tuple[Dependency, ...] = ()
    pre_depends: tuple[Dependency, ...] = ()
    provides: tuple[Relation, ...] = ()
    conflicts: tuple[Dependency, ...] = ()
    breaks: tuple[Dependency, ...] = ()
    filename: str = ""
    size: int = 0
    sha256: str = ""
    source: str = ""
    source_version: Version | None = None
    multi_arch: str = "no"
    essential: bool = False
    priority: str = ""
    fields: Paragraph = field(default_factory=Paragraph, compare=False, repr=False)

    @classmethod
    def from_paragraph(cls, paragraph: Paragraph) -> Package:
        """Build a package from its paragraph; errors name the package and file:line."""
        name = paragraph.get("Package", "").strip()
        where = paragraph.where()
        at = f" ({where})" if where else ""
        if not name:
            raise DebianError(f"paragraph without a Package field{at}")
        try:
            version = Version.parse(paragraph.get("Version", ""))
            architecture = paragraph.get("Architecture", "").strip()
            if not architecture:
                raise DebianError("it has no Architecture field")
            size_text = paragraph.get("Size", "0").strip()
            if not size_text.isdigit():
                raise DebianError(f"its Size {size_text!r} is not a number")
            source_name, source_version = _parse_source(paragraph.get("Source", ""), version)
            return cls(
                name=name,
                version=version,
                architecture=architecture,
                depends=parse_relations(paragraph.get("Depends", ""), "Depends"),
                pre_depends=parse_relations(paragraph.get("Pre-Depends", ""), "Pre-Depends"),
                provides=parse_provides(paragraph.get("Provides", "")),
                conflicts=parse_relations(paragraph.get("Conflicts", ""), "Conflicts"),
                breaks=parse_relations(paragraph.get("Breaks", ""), "Breaks"),
                filename=paragraph.get("Filename", "").strip(),
                size=int(size_text),
                sha256=paragraph.get("SHA256", "").strip().lower(),
                source=source_name or name,
                source_version=source_version,
                multi_arch=paragraph.get("Multi-Arch", "no").strip().lower(),
                essential=paragraph.get("Essential", "no").strip().lower() == "yes",
                priority=paragraph.get("Priority", "").strip(),
                fields=paragraph,
            )
        except DebianError as exc:
            raise DebianError(f"package {name}{at}: {exc.message}") from None

    def provided_version(self, name: str) -> tuple[bool, Version | None]:
        """Whether this package provides ``name``, and the version it provides it at."""
        for relation in self.provides:
            if relation.name == name:
                return True, relation.constraint.version if relation.constraint else None
        return False, None

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.architecture})"


def _parse_source(text: str, version: Version) -> tuple[str, Version]:
    """``Source: foo (1.2-3)`` names the source package and, if it differs, its version."""
    text = text.strip()
    if not text:
        return "", version
    name, _, rest = text.partition(" ")
    rest = rest.strip()
    if rest:
        if not (rest.startswith("(") and rest.endswith(")")):
            raise DebianError(f"its Source field {text!r} is malformed")
        return name, Version.parse(rest[1:-1])
    return name, version


_PROVIDED_NAME_RE = re.compile(r"(?:^|,)\s*([^\s,(|:\[<]+)")


def provided_names(provides: str) -> list[str]:
    """The names a raw ``Provides`` value lists, without parsing (or checking) the rest."""
    return _PROVIDED_NAME_RE.findall(provides)


class PackageIndex:
    """Every candidate of every package name for one architecture.

    Paragraphs may come from several Packages files (main suite, ``-updates``,
    ``-security``): all are kept as candidates and the highest version wins, so a later
    suite overrides an earlier one only by carrying a higher version.  Paragraphs for
    other architectures are ignored; ``Architecture: all`` is always accepted.

    Subclasses that find paragraphs elsewhere (an on-disk lookup table) override
    :meth:`_paragraphs_of`, :meth:`_provider_names` and :meth:`_all_names`; the choice of
    candidates, and therefore every resolution, stays in this class.
    """

    def __init__(self, arch: str) -> None:
        self.arch = arch
        self._by_name: dict[str, list[Paragraph]] = {}
        self._providers: dict[str, list[str]] = {}
        self._packages: dict[str, list[Package]] = {}

    @classmethod
    def from_paragraphs(cls, arch: str, *sources: Iterable[Paragraph]) -> PackageIndex:
        index = cls(arch)
        for paragraphs in sources:
            index.add_paragraphs(paragraphs)
        return index

    def add_paragraphs(self, paragraphs: Iterable[Paragraph]) -> None:
        for paragraph in paragraphs:
            self.add(paragraph)

    def add(self, paragraph: Paragraph) -> None:
        """Add one Packages paragraph (cheap: it is only parsed when its name is needed)."""
        arch = paragraph.get("Architecture", "").strip()
        if arch not in (self.arch, "all"):
            return
        name = paragraph.get("Package", "").strip()
        if not name:
            raise DebianError(f"paragraph without a Package field ({paragraph.where()})")
        self._by_name.setdefault(name, []).append(paragraph)
        self._packages.pop(name, None)
        provides = paragraph.get("Provides")
        if provides:
            # Only the names are needed to find providers; the field is parsed (and a
            # malformed one reported) when the providing package itself is looked at.
            for provided in provided_names(provides):
                names = self._providers.setdefault(provided, [])
                if name not in names:
                    names.append(name)

    def _paragraphs_of(self, name: str) -> list[Paragraph]:
        """Every paragraph of ``name`` for this architecture, in the order sources came."""
        return self._by_name.get(name, [])

    def _provider_names(self, virtual: str) -> Collection[str]:
        """Names of the packages with a paragraph that lists ``virtual`` in Provides."""
        return self._providers.get(virtual, ())

    def _all_names(self) -> Collection[str]:
        return self._by_name.keys()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._paragraphs_of(name))

    def __len__(self) -> int:
        return len(self._all_names())

    def names(self) -> list[str]:
        return sorted(self._all_names())

    def candidates(self, name: str) -> list[Package]:
        """Every version of ``name``, highest first; one entry per version."""
        packages = self._packages.get(name)
        if packages is None:
            paragraphs = self._paragraphs_of(name)
            if not paragraphs:
                return []
            seen: dict[Version, Package] = {}
            for paragraph in paragraphs:
                package = Package.from_paragraph(paragraph)
                # The same version in two suites is the same package: keep the first.
                seen.setdefault(package.version, package)
            packages = sorted(seen.values(), key=lambda p: p.version, reverse=True)
            self._packages[name] = packages
        return list(packages)

    def best(self, relation: Relation) -> Package | None:
        """The highest real package fitting ``relation`` (ignoring providers)."""
        if not self._qualifier_ok(relation):
            return None
        for package in self.candidates(relation.name):
            if relation.version_ok(package.version):
                return package
        return None

    def providers(self, relation: Relation) -> list[Package]:
        """Packages whose Provides satisfy ``relation``, by name, each at its highest fit."""
        if not self._qualifier_ok(relation):
            return []
        found: list[Package] = []
        for name in sorted(self._provider_names(relation.name)):
            for package in self.candidates(name):
                provides, version = package.provided_version(relation.name)
                if provides and relation.version_ok(version):
                    found.append(package)
                    break
        return found

    def _qualifier_ok(self, relation: Relation) -> bool:
        # One architecture per index: ':any' and ':native' resolve within it, and an
        # explicit foreign architecture has no candidate here.
        return relation.qualifier in (None, "any", "native", self.arch)


def _satisfied_by(relation: Relation, package: Package) -> bool:
    if package.name == relation.name:
        return relation.version_ok(package.version)
    provides, version = package.provided_version(relation.name)
    return provides and relation.version_ok(version)


def _chosen_satisfier(
    dependency: Dependency, chosen: dict[str, Package], arch: str
) -> Package | None:
    """The already chosen package that satisfies ``dependency``, if any (real first)."""
    for relation in dependency.alternatives:
        if not relation.applies_to(arch):
            continue
        real = chosen.get(relation.name)
        if real is not None and _satisfied_by(relation, real):
            return real
        for name in sorted(chosen):
            package = chosen[name]
            if package.name != relation.name and _satisfied_by(relation, package):
                return package
    return None


def parse_request(text: str) -> Dependency:
    """One requested package: ``name``, ``name=1.2`` (pinned), ``name (>= 1.2)`` or ``a | b``."""
    name, equals, version = text.partition("=")
    if equals and "(" not in text and "|" not in text:
        text = f"{name.strip()} (= {version.strip()})"
    dependencies = parse_relations(text, "package request")
    if len(dependencies) != 1:
        raise DebianError(f"package request {text!r} must name exactly one package")
    return dependencies[0]


@dataclass(frozen=True)
class Unsatisfied:
    """A dependency left unsatisfied on purpose: it asks for a package-management tool."""

    package: str
    relation: str

    def __str__(self) -> str:
        return f"{self.package} -> {self.relation}"


@dataclass(frozen=True)
class Resolution:
    """What a resolution adds, in install order, and what it deliberately left out.

    ``present`` lists the requests the base already satisfied (nothing was added for them).
    """

    packages: tuple[Package, ...]
    unsatisfied: tuple[Unsatisfied, ...] = ()
    present: tuple[str, ...] = ()


class _Closure:
    def __init__(
        self,
        index: PackageIndex,
        exclude: Collection[str],
        installed: Mapping[str, Package] | None = None,
        management: Collection[str] = (),
    ) -> None:
        self.index = index
        self.exclude = frozenset(exclude)
        self.installed = dict(installed or {})
        self.management = frozenset(management)
        self.chosen: dict[str, Package] = {}
        #: what is in the image at the end: the base's packages and the chosen ones
        self.held: dict[str, Package] = dict(self.installed)
        self.order: list[str] = []
        self.unsatisfied: list[Unsatisfied] = []
        self.present: list[str] = []

    def _is_management(self, relation: Relation) -> bool:
        """A management package, or a virtual name only management packages provide."""
        if relation.name in self.management:
            return True
        if self.index.candidates(relation.name):
            return False
        providers = self.index.providers(relation)
        return bool(providers) and all(p.name in self.management for p in providers)

    def _fits_base(self, package: Package) -> bool:
        """Whether every dependency of ``package`` on a package the base holds is met by it.

        A candidate that needs another version of a base package than the base's would
        need a second copy of it; a lower candidate that fits is taken instead.
        """
        arch = self.index.arch
        for dependency in (*package.pre_depends, *package.depends):
            relevant = [r for r in dependency.alternatives if r.applies_to(arch)]
            if not relevant or _chosen_satisfier(dependency, self.held, arch) is not None:
                continue
            if all(r.name in self.installed for r in relevant):
                return False
        return True

    def _best(self, relation: Relation) -> Package | None:
        """The highest candidate for ``relation`` that fits the base (else the highest)."""
        if not self.installed:
            return self.index.best(relation)
        fitting = [
            p for p in self.index.candidates(relation.name) if relation.version_ok(p.version)
        ]
        if not fitting or not self.index.best(relation):
            return None
        return next((p for p in fitting if self._fits_base(p)), fitting[0])

    def pick(self, dependency: Dependency, chain: tuple[str, ...]) -> Package | None:
        """Choose a package for ``dependency`` (None: dropped because of exclude or management)."""
        arch = self.index.arch
        relevant = [r for r in dependency.alternatives if r.applies_to(arch)]
        if not relevant:
            return None
        done = _chosen_satisfier(dependency, self.held, arch)
        if done is not None:
            if not chain and done.name in self.installed:
                self.present.append(str(dependency))
            return done
        if chain and self.management and any(self._is_management(r) for r in relevant):
            # dpkg, debconf, ...: needed by maintainer scripts, which never run here
            self.unsatisfied.append(Unsatisfied(chain[-1], str(dependency)))
            return None
        excluded_somewhere = False
        blockers: list[str] = []
        for relation in relevant:
            if relation.name in self.exclude:
                excluded_somewhere = True
                continue
            base = self.installed.get(relation.name)
            if base is not None:
                blockers.append(f"the base has {base.name} {base.version}")
                continue
            real = self._best(relation)
            if real is not None:
                held = self.held.get(real.name)
                if held is None:
                    return real
                blockers.append(f"{held.name} {held.version} is already chosen")
                continue
            providers = self.index.providers(relation)
            usable = [p for p in providers if p.name not in self.exclude]
            if providers and not usable:
                excluded_somewhere = True
            for provider in usable:
                held = self.held.get(provider.name)
                if held is None:
                    return provider
                blockers.append(f"{held.name} {held.version} is already chosen")
        if excluded_somewhere:
            return None
        path = " -> ".join((*chain, str(dependency)))
        detail = self._detail(relevant, blockers)
        raise DebianError(f"{path}: no candidate{detail}")

    def _detail(self, relations: Sequence[Relation], blockers: list[str]) -> str:
        if blockers:
            return f" ({'; '.join(blockers)})"
        notes = []
        for relation in relations:
            versions = self.index.candidates(relation.name)
            if versions and relation.constraint is not None:
                have = ", ".join(str(p.version) for p in versions)
                notes.append(f"{relation.name} has only {have}")
        arch = f" for {self.index.arch}"
        return arch + (f" ({'; '.join(notes)})" if notes else "")

    def is_choice(self, dependency: Dependency) -> bool:
        """Whether satisfying ``dependency`` means choosing between several packages."""
        relevant = [r for r in dependency.alternatives if r.applies_to(self.index.arch)]
        if len(relevant) != 1:
            return len(relevant) > 1
        only = relevant[0]
        return self.index.best(only) is None and len(self.index.providers(only)) > 1

    def run(self, requests: Sequence[Dependency]) -> None:
        """Breadth-first closure; choices between alternatives or providers wait.

        A dependency that offers a choice is only decided once every plain dependency
        found so far has been taken, so an alternative something else pulls in anyway
        wins over adding a second package for the same need.
        """
        queue: deque[tuple[Dependency, tuple[str, ...]]] = deque((r, ()) for r in requests)
        choices: deque[tuple[Dependency, tuple[str, ...]]] = deque()
        while queue or choices:
            if queue:
                dependency, chain = queue.popleft()
                if self.is_choice(dependency):
                    choices.append((dependency, chain))
                    continue
            else:
                dependency, chain = choices.popleft()
            package = self.pick(dependency, chain)
            if package is None or package.name in self.held:
                continue
            self.chosen[package.name] = package
            self.held[package.name] = package
            self.order.append(package.name)
            next_chain = (*chain, package.name)
            for child in (*package.pre_depends, *package.depends):
                queue.append((child, next_chain))


def resolve(
    index: PackageIndex,
    requests: Sequence[str],
    *,
    exclude: Collection[str] = (),
    resolve: bool = True,
) -> list[Package]:
    """Choose packages for ``requests`` and return them in install order.

    With ``resolve`` the closure over Pre-Depends and Depends is taken: for each
    dependency the first alternative that can be satisfied wins, a real package is
    preferred over providers of a virtual name, and among providers one already chosen
    wins, then the alphabetically first.  Names in ``exclude`` are never added; a
    dependency only they could satisfy is dropped on purpose.  Without ``resolve`` the
    request list is taken as it is (a missing name is an error) and only versions are
    chosen.  Either way the result lists dependencies before their dependents.
    """
    return list(resolve_onto(index, requests, exclude=exclude, resolve=resolve).packages)


def resolve_onto(
    index: PackageIndex,
    requests: Sequence[str],
    *,
    exclude: Collection[str] = (),
    resolve: bool = True,
    installed: Sequence[Package] = (),
    management: Collection[str] = (),
) -> Resolution:
    """:func:`resolve` on top of ``installed`` (a base image's packages): only what is missing.

    A dependency an installed package satisfies adds nothing; one that names an installed
    package at a version it does not have is an error naming both versions (a second copy
    of a package is never added).  Among the candidates of a missing package the highest
    whose own dependencies on installed packages are met wins.  A dependency (not a
    request) with an alternative in ``management`` that nothing present satisfies is left
    unsatisfied and reported in :attr:`Resolution.unsatisfied`: those packages run
    maintainer scripts and manage packages, and neither happens in the image.
    """
    parsed = [parse_request(text) for text in requests]
    excluded = frozenset(exclude)
    base = {p.name: p for p in installed}
    for request in parsed:
        if all(r.name in excluded for r in request.alternatives):
            raise DebianError(f"package {request} is both requested and excluded")
    closure = _Closure(index, excluded, base, management if resolve else ())
    if resolve:
        closure.run(parsed)
    else:
        for request in parsed:
            package = closure.pick(request, ()) if base else None
            if package is not None and package.name in base:
                continue
            package = _exact(index, request)
            held = closure.chosen.get(package.name)
            if held is not None and held != package:
                raise DebianError(f"package {package.name} is requested twice")
            if held is None:
                closure.chosen[package.name] = package
                closure.order.append(package.name)
    if resolve:  # an exact list is taken as given, conflicts and all
        check_conflicts(closure.chosen.values(), index.arch, base.values())
    return Resolution(
        tuple(install_order(closure.chosen, closure.order, index.arch)),
        tuple(closure.unsatisfied),
        tuple(closure.present),
    )


def _exact(index: PackageIndex, request: Dependency) -> Package:
    for relation in request.alternatives:
        package = index.best(relation)
        if package is not None:
            return package
    names = " | ".join(r.name for r in request.alternatives)
    if any(index.candidates(r.name) for r in request.alternatives):
        raise DebianError(f"no version of {names} for {index.arch} satisfies {request}")
    raise DebianError(f"package {names} is not in the package index for {index.arch}")


def check_conflicts(
    packages: Iterable[Package], arch: str, installed: Iterable[Package] = ()
) -> None:
    """Raise if one chosen package Conflicts with or Breaks another chosen or installed one.

    The installed packages are not checked against each other: they are a base image's.
    """
    chosen = {p.name: p for p in packages}
    everything = {**{p.name: p for p in installed}, **chosen}
    pairs = [(p, everything) for p in chosen.values()]
    pairs += [(p, chosen) for name, p in everything.items() if name not in chosen]
    for package, others in sorted(pairs, key=lambda pair: pair[0].name):
        for kind, relations in (("conflicts with", package.conflicts), ("breaks", package.breaks)):
            for dependency in relations:
                for relation in dependency.alternatives:
                    if not relation.applies_to(arch):
                        continue
                    for other_name in sorted(others):
                        other = others[other_name]
                        if other.name == package.name:
                            continue  # a package may conflict with what it provides itself
                        if _satisfied_by(relation, other):
                            raise DebianError(
                                f"{package.name} {package.version} {kind} {other.name} "
                                f"{other.version} ({relation}); both were chosen"
                            )


def install_order(chosen: dict[str, Package], roots: Sequence[str], arch: str) -> list[Package]:
    """Depth-first post-order over Pre-Depends, then Depends, starting from ``roots``.

    Each package comes after everything it (pre-)depends on within ``chosen``.  A cycle
    is broken where the walk closes it: the package reached first is installed last.
    """
    edges: dict[str, list[str]] = {}
    for name, package in chosen.items():
        targets: list[str] = []
        for dependency in (*package.pre_depends, *package.depends):
            satisfier = _chosen_satisfier(dependency, chosen, arch)
            if satisfier is not None and satisfier.name != name and satisfier.name not in targets:
                targets.append(satisfier.name)
        edges[name] = targets
    ordered: list[Package] = []
    state: dict[str, int] = {}  # 1: on the walk's path, 2: emitted
    for root in (*roots, *sorted(chosen)):
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            name, position = stack[-1]
            targets = edges[name]
            if position < len(targets):
                stack[-1] = (name, position + 1)
                target = targets[position]
                if target not in state:
                    state[target] = 1
                    stack.append((target, 0))
                continue
            stack.pop()
            state[name] = 2
            ordered.append(chosen[name])
    return ordered
