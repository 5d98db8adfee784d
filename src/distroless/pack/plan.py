"""What ``pack`` puts into an image: the programs, their ELF closure, and the chosen extras.

A plan is computed over an :class:`~distroless.elf.view.ImageView` of where the programs
were built (a stored image, a directory tree, the host).  Every file keeps the path and
mode it has there; every symlink the loader's walk passes through (``/lib64`` ->
``usr/lib64``, ``libz.so.1`` -> ``libz.so.1.2.13``) comes along so the same names lead to
the same files.  Libraries glibc opens with ``dlopen`` are invisible to the closure; the
``--with`` extras name them, and their own closures are followed by treating them as the
loader treats ``LD_PRELOAD`` entries (same search, never fatal).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from distroless.elf import (
    Closure,
    ClosureResolver,
    FileKind,
    ImageView,
    LoaderConfig,
    Via,
    dlopen_features,
    links_on_path,
    lookup,
    resolve,
)
from distroless.errors import BuildError, NotFoundError, UsageError
from distroless.rootpath import SymlinkLoopError

#: the ``--with`` extras and what each brings
EXTRAS: dict[str, str] = {
    "nss": "/etc/nsswitch.conf, passwd, group and the NSS modules nsswitch.conf names",
    "libgcc_s": "libgcc_s.so.1, which glibc loads for thread cancellation and unwinding",
    "gconv": "the gconv modules behind iconv, beside libc",
    "certs": "the CA bundle /etc/ssl/certs/ca-certificates.crt",
    "tzdata": "the time zone database /usr/share/zoneinfo",
}
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
ZONEINFO = "/usr/share/zoneinfo"
NSSWITCH = "/etc/nsswitch.conf"
#: what ``--with nss`` takes from the source when the base has none
NSS_FILES = (NSSWITCH, "/etc/passwd", "/etc/group")
LD_SO_CACHE = "/etc/ld.so.cache"
#: what the warning suggests for each feature :func:`dlopen_features` reports
_ADVICE = {
    "nss": "name and user lookups need NSS modules",
    "libgcc_s": "thread cancellation needs libgcc_s.so.1",
    "gconv": "iconv needs the gconv modules",
}


@dataclass(frozen=True)
class PackedFile:
    """One path of the packed image: a regular file (copied), a symlink or a directory."""

    path: str
    kind: FileKind
    mode: int
    linkname: str = ""


@dataclass
class PackPlan:
    programs: tuple[str, ...]
    files: dict[str, PackedFile] = field(default_factory=dict)
    closures: list[Closure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def regular_files(self) -> list[str]:
        return sorted(p for p, f in self.files.items() if f.kind is FileKind.FILE)


def parse_extras(text: Iterable[str]) -> frozenset[str]:
    """``--with nss,certs`` (repeatable) as a set; an unknown name is a usage error."""
    chosen = {part.strip() for item in text for part in item.split(",") if part.strip()}
    unknown = sorted(chosen - EXTRAS.keys())
    if unknown:
        raise UsageError(f"unknown --with {', '.join(unknown)}: the extras are {', '.join(EXTRAS)}")
    return frozenset(chosen)


def nss_modules(nsswitch: str) -> tuple[str, ...]:
    """The module file names the services of ``nsswitch.conf`` make glibc open."""
    names: dict[str, None] = {}
    for raw in nsswitch.splitlines():
        line = raw.split("#", 1)[0]
        _db, colon, services = line.partition(":")
        if not colon:
            continue
        for word in services.split():
            if word.startswith("[") or word.endswith("]") or "=" in word:
                continue  # an action such as [NOTFOUND=return]
            names[f"libnss_{word}.so.2"] = None
    return tuple(names)


def include(
    view: ImageView,
    plan: PackPlan,
    path: str,
    *,
    cwd: str = "/",
    skip: frozenset[str] = frozenset(),
) -> str | None:
    """Add ``path`` with every link on the walk to it; its canonical path, None if absent.

    A directory in ``skip`` (the base has it) is not added again; files always are.
    """
    try:
        for link, target in links_on_path(view, path, cwd=cwd):
            plan.files.setdefault(link, PackedFile(link, FileKind.SYMLINK, 0o777, target))
        real = resolve(view, path, cwd=cwd)
    except SymlinkLoopError:
        return None
    st = view.stat(real)
    if st is None or st.kind not in (FileKind.FILE, FileKind.DIR):
        return None
    if real not in skip or st.kind is FileKind.FILE:
        plan.files.setdefault(real, PackedFile(real, st.kind, st.mode))
    return real


class _Planner:
    def __init__(
        self, view: ImageView, config: LoaderConfig, extras: frozenset[str], skip: frozenset[str]
    ) -> None:
        self.view = view
        self.config = config
        self.extras = extras
        self.skip = skip  # paths the base image already provides

    def add_path(self, plan: PackPlan, path: str) -> str | None:
        return include(self.view, plan, path, cwd=self.config.cwd, skip=self.skip)

    def add_tree(self, plan: PackPlan, top: str) -> None:
        """Everything under directory ``top`` as it is: files, links (not followed), dirs."""
        real = self.add_path(plan, top)
        if real is None:
            return
        todo = [real]
        while todo:
            directory = todo.pop()
            for name in self.view.listdir(directory):
                path = posixpath.join(directory, name)
                st = self.view.stat(path)
                if st is None:
                    continue
                if st.kind is FileKind.SYMLINK:
                    target = self.view.readlink(path.lstrip("/")) or ""
                    plan.files.setdefault(path, PackedFile(path, FileKind.SYMLINK, 0o777, target))
                elif st.kind is FileKind.DIR:
                    plan.files.setdefault(path, PackedFile(path, FileKind.DIR, st.mode))
                    todo.append(path)
                elif st.kind is FileKind.FILE:
                    plan.files.setdefault(path, PackedFile(path, FileKind.FILE, st.mode))

    def read_text(self, path: str) -> str:
        found = lookup(self.view, path)
        if found is None or found[1].kind is not FileKind.FILE or found[1].size > 1 << 20:
            return ""
        with self.view.open(found[0]) as stream:
            return stream.read(1 << 20).decode("utf-8", "replace")

    def dlopened(self) -> tuple[str, ...]:
        names: list[str] = []
        if "libgcc_s" in self.extras:
            names.append("libgcc_s.so.1")
        if "nss" in self.extras:
            names += nss_modules(self.read_text(NSSWITCH))
        return tuple(names)

    def plan(self, programs: Sequence[str]) -> PackPlan:
        plan = PackPlan(tuple(programs))
        dlopened = self.dlopened()
        config = self.config
        if dlopened:
            extra = " ".join(dlopened)
            preload = f"{config.preload} {extra}" if config.preload else extra
            config = LoaderConfig(**{**config.__dict__, "preload": preload})
        resolver = ClosureResolver(self.view, config)
        for program, closure in zip(programs, resolver.closures(programs), strict=True):
            self._program(plan, program, closure)
        self._extras(plan)
        return plan

    def _program(self, plan: PackPlan, program: str, closure: Closure) -> None:
        if closure.platform_mismatch is not None:
            # the loader of the other architecture skips every library, so a missing
            # libc.so.6 would be a misleading answer: name the architecture, as check does
            raise BuildError(f"cannot pack {program}: {closure.platform_mismatch}")
        if closure.error is not None:
            found = lookup(self.view, program, cwd=self.config.cwd)
            if found is None or found[1].kind is not FileKind.FILE:
                raise NotFoundError(f"cannot pack {program}: {closure.error}")
            self.add_path(plan, program)  # a data file or a script: no closure to follow
            return
        problems = [f"{d.name} (needed by {d.needed_by}) not found" for d in closure.missing]
        problems += [f"{d.name}: {d.error}" for d in closure.failed]
        problems += [f"{v.version} from {v.file}" for v in closure.unmet_versions]
        if closure.interpreter_error:
            problems.append(closure.interpreter_error)
        if problems:
            raise BuildError(f"{program} would not start where it was built: {problems[0]}")
        plan.closures.append(closure)
        self.add_path(plan, program)
        for obj in closure.objects:
            self.add_path(plan, obj.path)
        if closure.interpreter is not None:
            self.add_path(plan, closure.interpreter)
        if self._needs_cache(closure):
            self.add_path(plan, LD_SO_CACHE)
        imports = {name for obj in closure.objects for name in obj.info.imports}
        for feature, symbols in sorted(dlopen_features(imports).items()):
            if feature not in self.extras:
                plan.warnings.append(
                    f"{program} imports {', '.join(symbols[:3])}: {_ADVICE[feature]}; "
                    f"add --with {feature}"
                )

    def _needs_cache(self, closure: Closure) -> bool:
        """Whether a library was found only through ``ld.so.cache`` outside the built-in dirs."""
        if closure.loader is None:
            return False
        system = closure.loader.system_dirs
        return any(
            dep.via is Via.CACHE
            and dep.path is not None
            and posixpath.dirname(dep.path) + "/" not in system
            for dep in (*closure.dependencies, *closure.preloads)
        )

    def _extras(self, plan: PackPlan) -> None:
        if "nss" in self.extras:
            for path in NSS_FILES:
                if path not in self.skip:  # the base's own users and config stay
                    self.add_path(plan, path)
        if "certs" in self.extras:
            if self.add_path(plan, CA_BUNDLE) is None:
                raise NotFoundError(f"--with certs: there is no {CA_BUNDLE} to take")
            plan.env["SSL_CERT_FILE"] = CA_BUNDLE
        if "tzdata" in self.extras:
            if lookup(self.view, ZONEINFO) is None:
                raise NotFoundError(f"--with tzdata: there is no {ZONEINFO} to take")
            self.add_tree(plan, ZONEINFO)
        if "gconv" in self.extras:
            dirs = sorted(
                {
                    posixpath.dirname(obj.real_path) + "/gconv"
                    for closure in plan.closures
                    for obj in closure.objects
                    if posixpath.basename(obj.real_path).startswith("libc.so")
                }
            )
            found = [d for d in dirs if lookup(self.view, d) is not None]
            if not found:
                raise NotFoundError("--with gconv: no gconv directory beside libc")
            for directory in found:
                self.add_tree(plan, directory)


def plan_pack(
    view: ImageView,
    programs: Sequence[str],
    *,
    config: LoaderConfig | None = None,
    extras: frozenset[str] = frozenset(),
    provided: frozenset[str] = frozenset(),
) -> PackPlan:
    """The files that ``programs`` (paths in ``view``) need to start, and the extras.

    ``provided`` are paths the base image already has (their directories are not copied
    again, and ``nsswitch.conf`` is kept from the base).  Raises :class:`NotFoundError`
    for a program that is not there, :class:`BuildError` for one whose closure does not
    resolve in ``view`` itself.
    """
    if not programs:
        raise UsageError("pack needs at least one program path")
    for program in programs:
        if not program.startswith("/"):
            raise UsageError(f"program path {program!r} must be absolute in the source")
    return _Planner(view, config or LoaderConfig(), extras, provided).plan(programs)
