"""Following an ELF's dynamic linking the way glibc's ``ld.so`` does, over an image view.

The algorithm is ``_dl_map_object_deps`` and ``_dl_map_object`` (glibc ``elf/dl-deps.c``,
``elf/dl-load.c``): objects are loaded breadth first from the root; a needed name first
matches an object already loaded (by the name it was loaded under, its path or its
``DT_SONAME``); otherwise a name with a slash is opened as it is, and a bare name is
searched for in order:

1. ``DT_RPATH`` of the object that needs it, then of the object that loaded that one, up
   to the executable -- only when the needing object has no ``DT_RUNPATH``, and skipping
   any object that has one (its ``DT_RPATH`` is ignored);
2. ``LD_LIBRARY_PATH``;
3. ``DT_RUNPATH`` of the needing object only;
4. ``/etc/ld.so.cache`` (unless the needing object is ``DF_1_NODEFLIB`` and the entry lies
   in a system directory);
5. the built-in system directories (unless ``DF_1_NODEFLIB``).

Every directory is tried with each supported ``glibc-hwcaps`` subdirectory first.  Each
file found is checked as ``open_verify`` checks it: another ELF class or machine is
skipped and the search goes on; a file that is not ELF, has the other byte order or an
unusable header stops the program from loading at all.  A file that is already loaded
under another name is that object again.  Versions needed (``DT_VERNEED``) are then
checked against the versions the providers define (``DT_VERDEF``), as
``_dl_check_map_versions`` does; a weak version, or a provider without any version
definitions, does not stop the program.

Reads are batched: before each breadth-first round the files the round will open are
fetched together (:meth:`~distroless.elf.view.ImageView.open_many`), so a view over layer
blobs reads each layer once per round instead of once per library.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from distroless.elf.closure import (
    Closure,
    Dependency,
    LoadedObject,
    Rejected,
    VersionCheck,
    VersionStatus,
    Via,
)
from distroless.elf.config import LoaderConfig
from distroless.elf.dst import Tokens, expand, has_tokens, split_path_list
from distroless.elf.header import ET_DYN
from distroless.elf.ldsocache import LD_SO_CACHE, LdCache, parse_ld_cache
from distroless.elf.machine import Loader, loader_for, loader_for_arch
from distroless.elf.openverify import Parsed, Verdict, check_candidate, parse_file
from distroless.elf.reader import DF_1_NODEFLIB, DF_1_PIE, ElfInfo
from distroless.elf.view import FileKind, ImageView, lookup, resolve
from distroless.errors import DistrolessError
from distroless.rootpath import SymlinkLoopError

#: the largest ``/etc/ld.so.cache`` or ``/etc/ld.so.preload`` read from an image
MAX_CONFIG_BYTES = 64 << 20
LD_SO_PRELOAD = "/etc/ld.so.preload"


@dataclass
class _Object:
    name: str
    path: str
    real: str
    identity: object
    info: ElfInfo
    loader: _Object | None
    origin: str
    names: set[str] = field(default_factory=set)
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()

    def answers_to(self, name: str) -> bool:
        return name == self.path or name in self.names or name == self.info.soname


class _Fatal(Exception):
    """The loader refuses a file outright; the program does not start."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


@dataclass
class _Found:
    path: str
    real: str
    identity: object
    parsed: Parsed


class ClosureResolver:
    """Closures of the ELF files of one image, sharing what it has read (one per image)."""

    def __init__(self, view: ImageView, config: LoaderConfig | None = None) -> None:
        self.view = view
        self.config = config or LoaderConfig()
        self._parsed: dict[str, Parsed] = {}
        self._caches: dict[str, LdCache | None] = {}
        self._cache_data: bytes | None = None
        self._preload_file: tuple[str, ...] | None = None

    # -- reading -----------------------------------------------------------------------

    def _read(self, real: str) -> Parsed:
        parsed = self._parsed.get(real)
        if parsed is None:
            self._prefetch([real])
            parsed = self._parsed.get(real) or Parsed(0, b"", None, None, "cannot read", True)
            self._parsed[real] = parsed
        return parsed

    def _prefetch(self, reals: Iterable[str]) -> None:
        todo = [r for r in dict.fromkeys(reals) if r not in self._parsed]
        if not todo:
            return
        try:
            for real, stream in self.view.open_many(todo):
                self._parsed[real] = parse_file(stream)
        except (OSError, DistrolessError) as exc:
            for real in todo:
                self._parsed.setdefault(
                    real, Parsed(0, b"", None, None, f"cannot read: {exc}", True)
                )

    def elf(self, path: str) -> ElfInfo | None:
        """The ELF facts of ``path`` (symlinks followed), None when it is no readable ELF."""
        found = lookup(self.view, path, cwd=self.config.cwd)
        if found is None or found[1].kind is not FileKind.FILE:
            return None
        return self._read(found[0]).info

    def _ld_cache(self, loader: Loader) -> LdCache | None:
        if loader.debian_arch not in self._caches:
            if self._cache_data is None:
                self._cache_data = self._config_file(LD_SO_CACHE)
            parsed = parse_ld_cache(self._cache_data, loader) if self._cache_data else None
            self._caches[loader.debian_arch] = parsed
        return self._caches[loader.debian_arch]

    def _config_file(self, path: str) -> bytes:
        found = lookup(self.view, path)
        if found is None or found[1].kind is not FileKind.FILE or found[1].size > MAX_CONFIG_BYTES:
            return b""
        try:
            with self.view.open(found[0]) as stream:
                return stream.read(MAX_CONFIG_BYTES)
        except (OSError, DistrolessError):
            return b""

    def _preloads(self) -> tuple[str, ...]:
        names: list[str] = []
        if self.config.preload:
            names += [n for n in re.split("[ :]", self.config.preload) if n]
        if self.config.use_preload_file:
            if self._preload_file is None:
                text = self._config_file(LD_SO_PRELOAD).decode("utf-8", "surrogateescape")
                lines = (line.split("#", 1)[0] for line in text.splitlines())
                self._preload_file = tuple(
                    n for line in lines for n in re.split(r"[ \t:]", line) if n
                )
            names += self._preload_file
        return tuple(names)

    # -- closures ----------------------------------------------------------------------

    def closures(self, paths: Sequence[str]) -> list[Closure]:
        """The closure of each of ``paths``, reading the roots in one batch first."""
        reals = []
        for path in paths:
            found = lookup(self.view, path, cwd=self.config.cwd)
            if found is not None and found[1].kind is FileKind.FILE:
                reals.append(found[0])
        self._prefetch(reals)
        return [self.closure(path) for path in paths]

    def closure(self, path: str) -> Closure:
        """What the loader maps when ``path`` is executed (or, for a library, loaded)."""
        try:
            real = resolve(self.view, path, cwd=self.config.cwd)
        except SymlinkLoopError:
            return Closure(path, None, None, None, None, error="too many levels of symbolic links")
        st = self.view.stat(real)
        if st is None or st.kind is not FileKind.FILE:
            what = "is not a regular file" if st is not None else "does not exist"
            return Closure(real, None, None, None, None, error=f"{path} {what}")
        parsed = self._read(real)
        if parsed.info is None:
            return Closure(real, None, None, None, None, error=parsed.error or "not an ELF file")
        return _Run(self, real, st.identity, parsed.info).run()


class _Run:
    """One simulated program start: the loader's list of objects and its search paths."""

    def __init__(
        self, resolver: ClosureResolver, real: str, identity: object, info: ElfInfo
    ) -> None:
        self.r = resolver
        self.view = resolver.view
        self.config = resolver.config
        self.real = real
        self.info = info
        self.loader = loader_for(info.header, info.interpreter)
        self.objects: list[_Object] = []
        self.rtld: _Object | None = None
        self.rtld_listed = False
        self.identity = identity

    # -- tokens and paths --------------------------------------------------------------

    def _tokens(self, origin: str | None) -> Tokens:
        assert self.loader is not None
        platform = self.config.at_platform
        if platform is None:
            platform = self.loader.at_platform
        return Tokens(
            origin=origin, platform=platform or None, lib=self.config.dst_lib or self.loader.dst_lib
        )

    def _origin(self, path: str) -> str:
        """``l_origin``: the directory of the name the object was opened under."""
        full = path if path.startswith("/") else posixpath.join(self.config.cwd, path)
        head = full.rsplit("/", 1)[0]
        return head or "/"

    def _dirs(self, text: str | None, origin: str, separators: str = ":") -> tuple[str, ...]:
        if text is None:
            return ()
        return split_path_list(text, self._tokens(origin), separators=separators)

    def _subdirs(self) -> tuple[str, ...]:
        return (*(f"glibc-hwcaps/{name}/" for name in self.config.hwcaps), "")

    # -- opening one file as open_verify does ------------------------------------------

    def _verify(self, path: str, rejected: list[Rejected]) -> _Found | str | None:
        """The file at ``path`` if usable, None to go on searching, ``"ELOOP"``/raise to stop."""
        assert self.loader is not None
        try:
            real = resolve(self.view, path, cwd=self.config.cwd)
        except SymlinkLoopError:
            return "ELOOP"
        st = self.view.stat(real)
        if st is None or st.kind is FileKind.SYMLINK:
            return None
        if st.kind is not FileKind.FILE:
            raise _Fatal(path, "cannot read file data")
        parsed = self.r._read(real)
        loader = self.loader
        if parsed.unreadable:
            return None  # like EACCES: the next candidate is tried
        verdict, reason = check_candidate(loader, parsed)
        if verdict is Verdict.SKIP:
            rejected.append(Rejected(path, reason))
            return None
        if verdict is Verdict.FATAL:
            raise _Fatal(path, reason)
        return _Found(path, real, st.identity, parsed)

    def _open_path(self, name: str, dirs: Sequence[str], rejected: list[Rejected]) -> _Found | None:
        for directory in dirs:
            outcome: _Found | str | None = None
            for sub in self._subdirs():
                outcome = self._verify(directory + sub + name, rejected)
                if isinstance(outcome, _Found):
                    return outcome
            if outcome == "ELOOP":
                return None  # open_path gives up on the rest of this list
        return None

    # -- the search order --------------------------------------------------------------

    def _main(self) -> _Object:
        return self.objects[0]

    def _search(
        self, loader_obj: _Object | None, name: str
    ) -> tuple[_Found | None, Via | None, list[Rejected]]:
        assert self.loader is not None
        rejected: list[Rejected] = []
        if loader_obj is None or loader_obj.info.runpath is None:
            chain = loader_obj
            while chain is not None:
                if chain.rpath:
                    found = self._open_path(name, chain.rpath, rejected)
                    if found:
                        return found, Via.RPATH, rejected
                chain = chain.loader
        llp = self._dirs(self.config.ld_library_path, self._main().origin, ":;")
        if llp:
            found = self._open_path(name, llp, rejected)
            if found:
                return found, Via.LD_LIBRARY_PATH, rejected
        if loader_obj is not None and loader_obj.runpath:
            found = self._open_path(name, loader_obj.runpath, rejected)
            if found:
                return found, Via.RUNPATH, rejected
        system_dirs = self.config.system_dirs or self.loader.system_dirs
        flags_obj = loader_obj or self._main()
        nodeflib = bool(flags_obj.info.flags_1 & DF_1_NODEFLIB)
        cache = self.r._ld_cache(self.loader) if self.config.use_cache else None
        if cache is not None:
            cached = cache.lookup(name, self.loader, self.config.hwcaps)
            if cached is not None and nodeflib and any(cached.startswith(d) for d in system_dirs):
                cached = None
            if cached is not None:
                outcome = self._verify(cached, rejected)
                if isinstance(outcome, _Found):
                    return outcome, Via.CACHE, rejected
        if not nodeflib:
            found = self._open_path(name, system_dirs, rejected)
            if found:
                return found, Via.DEFAULT, rejected
        return None, None, rejected

    def _candidates(self, loader_obj: _Object | None, name: str) -> Iterator[str]:
        """The paths the search tries, in order (for prefetching; no verdicts)."""
        assert self.loader is not None
        if "/" in name:
            yield name
            return
        lists: list[tuple[str, ...]] = []
        if loader_obj is None or loader_obj.info.runpath is None:
            chain = loader_obj
            while chain is not None:
                lists.append(chain.rpath)
                chain = chain.loader
        lists.append(self._dirs(self.config.ld_library_path, self._main().origin, ":;"))
        if loader_obj is not None:
            lists.append(loader_obj.runpath)
        for dirs in lists:
            for directory in dirs:
                for sub in self._subdirs():
                    yield directory + sub + name
        cache = self.r._ld_cache(self.loader) if self.config.use_cache else None
        cached = cache.lookup(name, self.loader, self.config.hwcaps) if cache else None
        if cached:
            yield cached
        for directory in self.config.system_dirs or self.loader.system_dirs:
            for sub in self._subdirs():
                yield directory + sub + name

    # -- mapping objects ---------------------------------------------------------------

    def _loaded(self, name: str) -> _Object | None:
        for obj in self._all_objects():
            if obj.answers_to(name):
                return obj
        return None

    def _list_rtld(self, obj: _Object) -> None:
        """The loader itself takes its place in the list where something first needs it."""
        if obj is self.rtld and not self.rtld_listed:
            self.rtld_listed = True
            self.objects.append(obj)

    def _by_identity(self, identity: object) -> _Object | None:
        for obj in self._all_objects():
            if obj.identity == identity:
                return obj
        return None

    def _map(
        self, loader_obj: _Object | None, name: str, via_preload: bool = False
    ) -> tuple[Dependency, _Object | None]:
        needed_by = loader_obj.real if loader_obj is not None else ""
        known = self._loaded(name)
        if known is not None:
            known.names.add(name)
            self._list_rtld(known)
            return Dependency(needed_by, name, known.path, known.real, Via.LOADED), known
        try:
            if "/" in name:
                realname = name
                if loader_obj is not None and has_tokens(name):
                    realname = expand(name, self._tokens(loader_obj.origin)) or ""
                rejected: list[Rejected] = []
                outcome = self._verify(realname, rejected) if realname else None
                found = outcome if isinstance(outcome, _Found) else None
                via: Via | None = Via.PATH
            else:
                found, via, rejected = self._search(loader_obj, name)
        except _Fatal as fatal:
            return Dependency(needed_by, name, fatal.path, None, None, error=fatal.reason), None
        if found is None:
            return Dependency(needed_by, name, None, None, None, tuple(rejected)), None
        if via_preload:
            via = Via.PRELOAD
        same = self._by_identity(found.identity)
        if same is not None:
            same.names.add(name)
            self._list_rtld(same)
            return Dependency(needed_by, name, same.path, same.real, via, tuple(rejected)), same
        info = found.parsed.info
        assert info is not None
        problem = None
        if info.header.e_type != ET_DYN:
            problem = "cannot dynamically load executable"
        elif not info.dynamic:
            problem = "object file has no dynamic section"
        elif info.flags_1 & DF_1_PIE:
            problem = "cannot dynamically load position-independent executable"
        if problem is not None:
            return Dependency(
                needed_by, name, found.path, found.real, via, tuple(rejected), problem
            ), None
        obj = self._new_object(name, found.path, found.real, found.identity, info, loader_obj)
        return Dependency(needed_by, name, found.path, found.real, via, tuple(rejected)), obj

    def _new_object(
        self,
        name: str,
        path: str,
        real: str,
        identity: object,
        info: ElfInfo,
        loader_obj: _Object | None,
        origin: str | None = None,
    ) -> _Object:
        obj = _Object(
            name, path, real, identity, info, loader_obj, origin or self._origin(path), {name}
        )
        if info.runpath is not None:
            obj.runpath = self._dirs(info.runpath, obj.origin)
        else:
            obj.rpath = self._dirs(info.rpath, obj.origin)
        self.objects.append(obj)
        return obj

    # -- the run -----------------------------------------------------------------------

    def run(self) -> Closure:
        info, loader = self.info, self.loader
        mismatch = self._platform_mismatch()
        if loader is None:
            return Closure(
                self.real,
                info,
                None,
                info.interpreter,
                None,
                error=f"no known glibc loader runs ELF machine {info.machine}",
                platform_mismatch=mismatch,
            )
        main_origin = posixpath.dirname(self.real) or "/"
        self._new_object(self.real, self.real, self.real, self.identity, info, None, main_origin)
        self._main().names = {""}
        interpreter, interp_real, interp_error = self._interpreter()
        if not info.dynamic:
            return Closure(
                self.real,
                info,
                loader,
                interpreter,
                interp_real,
                tuple(self._listed()),
                interpreter_error=interp_error,
                platform_mismatch=mismatch,
            )
        preloads = [self._map(self._main(), name, via_preload=True)[0] for name in self._preloads()]
        dependencies: list[Dependency] = []
        done = 0
        while done < len(self.objects):
            frontier = self.objects[done:]
            self._prefetch_round(frontier)
            for obj in frontier:
                done += 1
                for needed in obj.info.needed:
                    name = needed
                    if has_tokens(needed):
                        expanded = expand(needed, self._tokens(obj.origin))
                        if not expanded:
                            continue  # the loader drops a DT_NEEDED it cannot expand
                        name = expanded
                    dependencies.append(self._map(obj, name)[0])
        return Closure(
            root=self.real,
            info=info,
            loader=loader,
            interpreter=interpreter,
            interpreter_path=interp_real,
            objects=tuple(self._listed()),
            dependencies=tuple(dependencies),
            preloads=tuple(preloads),
            versions=tuple(self._versions()),
            interpreter_error=interp_error,
            platform_mismatch=mismatch,
        )

    def _preloads(self) -> tuple[str, ...]:
        return self.r._preloads()

    def _listed(self) -> list[LoadedObject]:
        """The objects as the trace lists them: the loader only where something needs it."""
        out = []
        for obj in self.objects:
            needed_by = obj.loader.real if obj.loader is not None else None
            out.append(LoadedObject(obj.name, obj.path, obj.real, obj.info, needed_by))
        return out

    def _prefetch_round(self, frontier: Sequence[_Object]) -> None:
        reals = []
        for obj in frontier:
            for needed in obj.info.needed:
                if has_tokens(needed) or self._loaded(needed) is not None:
                    continue
                for candidate in self._candidates(obj, needed):
                    try:
                        real = resolve(self.view, candidate, cwd=self.config.cwd)
                    except SymlinkLoopError:
                        continue
                    st = self.view.stat(real)
                    if st is not None and st.kind is FileKind.FILE:
                        reals.append(real)
                        break
        self.r._prefetch(reals)

    def _interpreter(self) -> tuple[str | None, str | None, str | None]:
        """(``PT_INTERP`` or the machine's loader, its real path, why it cannot run)."""
        assert self.loader is not None
        interpreter = self.info.interpreter
        given = interpreter is not None
        if interpreter is None:
            if not self.info.dynamic:
                return None, None, None
            interpreter = self.loader.interpreter  # a library: loaded by its machine's ld.so
        found = lookup(self.view, interpreter, cwd=self.config.cwd)
        if found is None or found[1].kind is not FileKind.FILE:
            return (
                interpreter,
                None,
                (f"interpreter {interpreter} does not exist" if given else None),
            )
        real, st = found
        if st.identity == self.identity:
            return interpreter, real, None  # the loader itself, run as a program
        parsed = self.r._read(real)
        info = parsed.info
        if (
            info is None
            or info.header.ei_class != self.loader.ei_class
            or not self.loader.matches_machine(info.header)
        ):
            return (
                interpreter,
                real,
                (f"interpreter {interpreter} is not a loader for this machine" if given else None),
            )
        rtld = _Object(
            interpreter,
            interpreter,
            real,
            st.identity,
            info,
            None,
            self._origin(interpreter),
            {interpreter},
        )
        self.rtld = rtld
        return interpreter, real, None

    def _platform_mismatch(self) -> str | None:
        expected = self.config.expected
        if expected is None:
            return None
        actual = self.info.oci_platform
        if actual is None:
            return f"ELF machine {self.info.machine} is no {expected[0]} machine"
        arch = actual[0]
        want = expected[0] + (f"/{expected[1]}" if expected[1] else "")
        if arch != expected[0]:
            return f"{arch} binary, but the image is {want}"
        image_loader = loader_for_arch(*expected)
        if (
            arch == "arm"
            and image_loader is not None
            and self.loader is not None
            and not image_loader.valid_float_abi(self.info.header)
        ):
            abi = "hard-float" if self.loader.flavor else "soft-float"
            return f"arm {abi} binary, but the image is {want}"
        return None

    def _versions(self) -> Iterator[VersionCheck]:
        objects = self._all_objects()
        for obj in objects:
            for need in obj.info.version_needs:
                provider = next((o for o in objects if o.answers_to(need.file)), None)
                for ref in need.versions:
                    if provider is None:
                        status = VersionStatus.NOT_LOADED
                    elif not provider.info.version_defs:
                        status = VersionStatus.NO_VERSION_INFO
                    elif any(
                        d.hash == ref.hash and d.name == ref.name
                        for d in provider.info.version_defs
                    ):
                        status = VersionStatus.MET
                    else:
                        status = VersionStatus.MISSING
                    yield VersionCheck(
                        obj.real,
                        need.file,
                        ref.name,
                        ref.weak,
                        provider.real if provider else None,
                        status,
                    )

    def _all_objects(self) -> list[_Object]:
        """Every object the loader knows, its own map included even while no one needs it."""
        objects = list(self.objects)
        if self.rtld is not None and not self.rtld_listed:
            objects.append(self.rtld)
        return objects


def resolve_closure(view: ImageView, path: str, config: LoaderConfig | None = None) -> Closure:
    """The closure of one ELF (see :class:`ClosureResolver` to share reads among many)."""
    return ClosureResolver(view, config).closure(path)
