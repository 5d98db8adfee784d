"""Will it run: the image's command, and every program on its ``PATH``, as the kernel and
the dynamic loader would start them.

The command is the config's ``Entrypoint`` followed by its ``Cmd`` (docker's rule).  Its
first word is found as runc finds it: a name with a slash is taken as it is (relative to
the working directory), any other name is looked up in the image's ``PATH`` (the default
``PATH`` when the image sets none), and the first candidate that is a file the image's
user may execute wins.  Then the kernel's view: an ELF must be of the image's
architecture and its ``PT_INTERP`` must exist and be executable; a ``#!`` script's
interpreter must exist, be executable and, if a script itself, lead to a program within
the kernel's four levels; anything else is an exec format error.  Then the loader's view,
from :mod:`distroless.elf`: every ``DT_NEEDED`` library found by glibc's search order
(with the image's ``LD_LIBRARY_PATH``, ``RPATH``/``RUNPATH``, ``ld.so.cache`` and the
default directories), none refused, every needed symbol version defined, and every
library readable by the user.

Every ELF program under the ``PATH`` directories gets the loader's checks too, since a
debugging session or a script may run any of them; their permissions are not checked
(another user may be meant to run them).  A command under one of the config's
``Volumes`` is left alone: what will be there comes from outside the image.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from distroless.elf import Closure, ClosureResolver, FsViewAdapter, LoaderConfig
from distroless.elf.header import is_elf
from distroless.elf.view import FileKind, resolve
from distroless.errors import DistrolessError
from distroless.oci.models import DEFAULT_PATH
from distroless.rootpath import SymlinkLoopError
from distroless.verify.access import EXECUTE, READ, Identity, image_identity
from distroless.verify.findings import Finding, finding, note
from distroless.verify.fsview import FileSystemView, Node
from distroless.verify.heads import read_heads
from distroless.verify.image import ImageHandle
from distroless.verify.packages import installed_packages, md5sums_lists
from distroless.verify.suggest import NoHints, PackageHints

#: ``BINPRM_MAX_RECURSION``: how many ``#!`` interpreters the kernel follows
MAX_INTERPRETERS = 4


def command_line(image: ImageHandle) -> tuple[str, ...]:
    """What a container of the image runs when given no arguments (docker's rule)."""
    config = image.config.config
    return tuple(config.entrypoint or ()) + tuple(config.cmd or ())


def _env(image: ImageHandle) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in image.config.config.env:
        key, sep, value = item.partition("=")
        if sep and key:
            out[key] = value
    return out


@dataclass
class _Context:
    fs: FileSystemView
    view: FsViewAdapter
    resolver: ClosureResolver
    cwd: str
    identity: Identity | None
    hints_factory: Callable[[], PackageHints]
    _hints: PackageHints | None = None
    hints_error: str | None = None
    _children: dict[str, list[str]] | None = None
    _owners: dict[str, tuple[str, str]] | None = None
    seen: set[tuple[str, str, str | None]] = field(default_factory=set)

    @property
    def hints(self) -> PackageHints:
        if self._hints is None:
            try:
                self._hints = self.hints_factory()
            except DistrolessError as exc:
                # hints are a courtesy: without them the findings still stand
                self.hints_error = exc.message
                self._hints = NoHints()
        return self._hints

    def owner(self, real: str) -> tuple[str, str] | None:
        """The (package, version) whose md5sums list the file at canonical ``real``."""
        if self._owners is None:
            owners: dict[str, tuple[str, str]] = {}
            packages = {p.name: p.version for p in installed_packages(self.fs)}
            for name, paths in md5sums_lists(self.fs, packages).items():
                for path in paths or ():
                    canonical = self.canonical("/" + path.lstrip("/"), follow_last=False)
                    if canonical is not None:
                        owners.setdefault(canonical, (name, packages[name]))
            self._owners = owners
        return self._owners.get(real)

    def canonical(self, path: str, *, follow_last: bool = True) -> str | None:
        try:
            return resolve(self.view, path, follow_last=follow_last, cwd=self.cwd)
        except SymlinkLoopError:
            return None

    def children(self, directory: str) -> list[str]:
        """The names in canonical ``directory``, from one pass over the image's paths."""
        if self._children is None:
            children: dict[str, list[str]] = {}
            for node in self.fs.nodes():
                parent, name = posixpath.split(node.path)
                if name:
                    children.setdefault(parent, []).append(name)
            self._children = children
        return self._children.get(directory, [])

    def node(self, real: str) -> Node | None:
        """The node at canonical ``real`` (a directory implied by its contents included)."""
        st = self.view.stat(real)
        if st is None:
            return None
        return self.fs.get(real) or self.fs.lookup(real, follow=False)

    def add(self, item: Finding) -> Iterator[Finding]:
        """``item`` unless an equal one (same kind, path and missing piece) came already."""
        key = (item.kind, item.path, item.missing)
        if key not in self.seen:
            self.seen.add(key)
            yield item


# -- finding the command --------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    name: str  # as the lookup produced it (/usr/bin/python3)
    real: str  # every link resolved (/usr/bin/python3.13)
    node: Node


def _candidates(program: str, path_env: str, cwd: str) -> list[str]:
    if "/" in program:
        return [posixpath.join(cwd, program)]
    out = []
    for directory in path_env.split(":"):
        out.append(posixpath.join(cwd, directory or ".", program))
    return out


def _denied_directory(ctx: _Context, real: str) -> str | None:
    """The first directory on the way to ``real`` the user may not search."""
    if ctx.identity is None or ctx.identity.is_root:
        return None
    parts = real.strip("/").split("/")[:-1]
    for i in range(len(parts) + 1):
        directory = "/" + "/".join(parts[:i])
        node = ctx.node(directory)
        if node is not None and node.is_dir and not ctx.identity.may(node, EXECUTE):
            return directory
    return None


def _may(ctx: _Context, found: _Found, want: int) -> bool:
    if ctx.identity is None:
        return True
    return ctx.identity.may(found.node, want) and _denied_directory(ctx, found.real) is None


def _who(ctx: _Context) -> str:
    return ctx.identity.describe() if ctx.identity is not None else "the image's user"


def _permission(ctx: _Context, found: _Found, what: str, want: int = EXECUTE) -> Finding:
    directory = _denied_directory(ctx, found.real)
    if directory is not None:
        reason = f"the directory {directory} is not searchable"
    else:
        node = found.node
        verb = "executable" if want == EXECUTE else "readable"
        reason = f"mode {node.mode:04o} owner {node.uid}:{node.gid} is not {verb}"
    return finding(
        "permission-denied",
        found.real,
        f"{what} {found.name}: {reason} for {_who(ctx)}",
    )


def _lookup(ctx: _Context, path: str) -> _Found | None:
    real = ctx.canonical(path)
    if real is None:
        return None
    st = ctx.view.stat(real)
    node = ctx.node(real)
    if st is None or st.kind is FileKind.SYMLINK or node is None:
        return None
    return _Found(path, real, node)


def _find_command(
    ctx: _Context, program: str, path_env: str
) -> tuple[_Found | None, list[Finding]]:
    """The file runc would execute for ``program``, or the findings of why there is none."""
    denied: list[_Found] = []
    directory: _Found | None = None
    for candidate in _candidates(program, path_env, ctx.cwd):
        found = _lookup(ctx, candidate)
        if found is None:
            continue
        if found.node.is_dir:
            directory = directory or found
            continue
        if _may(ctx, found, EXECUTE):
            return found, []
        denied.append(found)
    if denied:
        return None, [_permission(ctx, denied[0], "the command")]
    if directory is not None and "/" in program:
        return None, [
            finding("not-a-program", directory.real, f"the command {program} is a directory")
        ]
    where = "" if "/" in program else f" in PATH {path_env}"
    return None, [
        finding(
            "command-not-found",
            program,
            f"the command {program} does not exist in the image{where}",
            missing=program,
        )
    ]


# -- what the kernel and the loader do with it -----------------------------------------------


def _glibc_release(version: str) -> str:
    if version.startswith("GLIBC_2."):
        return f"; it was built against glibc {version[6:]} or newer"
    return ""


def _closure_findings(ctx: _Context, closure: Closure) -> Iterator[Finding]:
    """Why the loader would not start ``closure.root`` (nothing when it would)."""
    root = closure.root
    if closure.platform_mismatch is not None:
        yield from ctx.add(
            finding(
                "wrong-architecture",
                root,
                f"{root}: {closure.platform_mismatch}",
                missing=closure.platform_mismatch,
            )
        )
        return
    if closure.error is not None:
        yield from ctx.add(
            finding("malformed-elf", root, f"{root} cannot be loaded: {closure.error}")
        )
        return
    if closure.interpreter_error is not None and closure.interpreter is not None:
        merged = "/usr" + closure.interpreter
        if closure.interpreter.startswith("/lib") and _lookup(ctx, merged) is not None:
            # Debian 13's libc6 ships the loader under /usr; base-files links /lib64 there
            package: str | None = "base-files"
            tail = (
                f"; {merged} exists, but the link of merged /usr that leads there is missing"
                " (Debian package base-files provides it)"
            )
        else:
            package = ctx.hints.package_for(posixpath.basename(closure.interpreter))
            tail = f"; Debian package {package} provides it" if package else ""
        yield from ctx.add(
            finding(
                "missing-interpreter",
                root,
                f"the ELF {closure.interpreter_error} ({root} cannot start){tail}",
                missing=closure.interpreter,
                package=package,
            )
        )
    for dep in closure.missing:
        package = ctx.hints.package_for(dep.name)
        loading = f" (starting {root})" if dep.needed_by != root else ""
        tail = f"; Debian package {package} provides it" if package else ""
        if dep.rejected:
            # the loader meets one file under each of its names (/lib, /usr/lib)
            files = {(ctx.canonical(r.path) or r.path): r.reason for r in dep.rejected}
            passed = ", ".join(f"{path} ({reason})" for path, reason in list(files.items())[:3])
            tail = f"; passed over {passed}{tail}"
        yield from ctx.add(
            finding(
                "missing-library",
                dep.needed_by,
                f"{dep.needed_by} needs {dep.name}, which the loader does not find{loading}{tail}",
                missing=dep.name,
                package=package,
            )
        )
    for dep in closure.failed:
        yield from ctx.add(
            finding(
                "unloadable-library",
                dep.path or dep.needed_by,
                f"{dep.needed_by} needs {dep.name}: the loader refuses {dep.path}: {dep.error}",
                missing=dep.name,
            )
        )
    for version in closure.unmet_versions:
        owner = ctx.owner(version.provider) if version.provider else None
        where = f"{version.provider}" + (f" ({owner[0]} {owner[1]})" if owner else "")
        yield from ctx.add(
            finding(
                "missing-version",
                version.needed_by,
                f"{version.needed_by} needs {version.version} from {version.file}, which "
                f"{where} does not define{_glibc_release(version.version)}",
                missing=version.version,
                package=owner[0] if owner else None,
            )
        )


def _readable_objects(ctx: _Context, closure: Closure) -> Iterator[Finding]:
    """The loader opens every library for reading, as the container's user."""
    if ctx.identity is None or ctx.identity.is_root:
        return
    for obj in closure.objects[1:]:
        node = ctx.node(obj.real_path)
        if node is not None:
            found = _Found(obj.path, obj.real_path, node)
            if not _may(ctx, found, READ):
                yield from ctx.add(_permission(ctx, found, f"{closure.root} loads", READ))


def _interpreter_permission(ctx: _Context, closure: Closure) -> Iterator[Finding]:
    """The kernel opens ``PT_INTERP`` for execution, as the container's user."""
    if closure.interpreter is None or closure.interpreter_path is None:
        return
    found = _lookup(ctx, closure.interpreter)
    if found is not None and not _may(ctx, found, EXECUTE):
        yield _permission(ctx, found, f"the ELF interpreter of {closure.root} is")


def _shebang(head: bytes) -> str | None:
    """The interpreter a ``#!`` line names ('' when it names none); None for no ``#!``."""
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].strip(b" \t")
    return line.split(None, 1)[0].decode("utf-8", "surrogateescape") if line else ""


def _exec(ctx: _Context, found: _Found, depth: int = 0) -> Iterator[Finding]:
    """Findings for executing ``found`` (already known to be executable by the user)."""
    head = read_heads(ctx.fs, [found.real]).get(found.real, b"")
    if is_elf(head):
        closure = ctx.resolver.closure(found.real)
        problems = list(_closure_findings(ctx, closure))
        yield from problems
        if not problems:
            yield from _interpreter_permission(ctx, closure)
            yield from _readable_objects(ctx, closure)
        return
    interpreter = _shebang(head)
    if interpreter is None or interpreter == "":
        what = "an empty file" if not head else "neither an ELF program nor a #! script"
        yield finding("not-a-program", found.real, f"{found.name} is {what}: exec format error")
        return
    if not _may(ctx, found, READ):
        yield _permission(ctx, found, "the script", READ)
    if depth + 1 >= MAX_INTERPRETERS:
        yield finding(
            "missing-interpreter",
            found.real,
            f"{found.name} leads through more than {MAX_INTERPRETERS - 1} #! interpreters",
            missing=interpreter,
        )
        return
    target = _lookup(ctx, posixpath.join(ctx.cwd, interpreter))
    if target is None or target.node.is_dir:
        what = "does not exist" if target is None else "is a directory"
        yield finding(
            "missing-interpreter",
            found.real,
            f"the #! interpreter {interpreter} of {found.name} {what}",
            missing=interpreter,
        )
        return
    if not _may(ctx, target, EXECUTE):
        yield _permission(ctx, target, f"the #! interpreter of {found.name} is")
        return
    yield from _exec(ctx, target, depth + 1)


# -- the programs on PATH -------------------------------------------------------------------


def _path_programs(ctx: _Context, path_env: str) -> list[str]:
    """Canonical paths of the executable regular files in the ``PATH`` directories."""
    programs: dict[str, None] = {}
    seen: set[str] = set()
    for directory in path_env.split(":"):
        real = ctx.canonical(posixpath.join(ctx.cwd, directory or "."))
        if real is None or real in seen:
            continue
        seen.add(real)
        st = ctx.view.stat(real)
        if st is None or st.kind is not FileKind.DIR:
            continue
        for name in ctx.children(real):
            found = _lookup(ctx, posixpath.join(real, name))
            if found is not None and found.node.is_file and found.node.mode & 0o111:
                programs[found.real] = None
    return list(programs)


def _elf_programs(ctx: _Context, paths: Iterable[str]) -> list[str]:
    heads = read_heads(ctx.fs, paths, size=4)
    return [p for p, head in heads.items() if is_elf(head)]


# -- the rule --------------------------------------------------------------------------------


def runnable_findings(
    fs: FileSystemView,
    image: ImageHandle,
    hints: Callable[[], PackageHints] = NoHints,
) -> list[Finding]:
    """Everything that would stop the image's command, or a program on its PATH, starting.

    ``hints`` makes the package hints; it is called only when a library is missing.
    """
    config = image.config.config
    env = _env(image)
    platform = image.config.platform
    variant = platform.variant if platform.variant != "v8" else None
    cwd = posixpath.normpath(config.working_dir or "/")
    loader = LoaderConfig.from_env(env, cwd=cwd, expected=(platform.architecture, variant))
    view = FsViewAdapter(fs)
    identity = image_identity(fs, config.user)
    ctx = _Context(
        fs,
        view,
        ClosureResolver(view, loader),
        cwd,
        identity if isinstance(identity, Identity) else None,
        hints,
    )
    path_env = env.get("PATH", DEFAULT_PATH)
    items: list[Finding] = []
    argv = command_line(image)
    entry: str | None = None
    if not argv:
        items.append(
            note(
                "no-command",
                "/",
                "no entrypoint and no cmd: a container needs a command (a base image to build on)",
            )
        )
    elif _in_volume(config.volumes, posixpath.join(cwd, argv[0])):
        items.append(
            note("command-in-volume", argv[0], f"the command {argv[0]} is in a volume: not checked")
        )
    else:
        found, problems = _find_command(ctx, argv[0], path_env)
        items.extend(problems)
        if found is not None:
            entry = found.real
            items.extend(_exec(ctx, found))
    others = [p for p in _path_programs(ctx, path_env) if p != entry]
    elves = _elf_programs(ctx, others)
    for closure in ctx.resolver.closures(elves):
        items.extend(_closure_findings(ctx, closure))
    if ctx.hints_error is not None:
        items.append(note("no-package-hints", "/", f"no Debian package names: {ctx.hints_error}"))
    return items


def _in_volume(volumes: Iterable[str], path: str) -> bool:
    path = posixpath.normpath(path)
    for given in volumes:
        volume = posixpath.normpath("/" + given.lstrip("/"))
        if path == volume or path.startswith(volume.rstrip("/") + "/"):
            return True
    return False
