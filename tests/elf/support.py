"""Building small ELF trees with the host's gcc, and asking the real loader about them.

A *mini root* is a directory holding only the host's own ``ld.so`` and ``libc.so.6`` at
their Debian paths (merged ``/usr``, ``/lib64`` link), plus whatever a test compiles into
it.  Running a program there under ``chroot`` with ``LD_TRACE_LOADED_OBJECTS=1`` makes
glibc's loader print what it maps, which the resolver's answer is compared with.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from distroless.elf import Closure, ClosureResolver, DirectoryView, LoaderConfig, VersionStatus
from tests.helpers import require, require_root, run

TRIPLET = "x86_64-linux-gnu"
HOST_LDSO = Path("/lib64/ld-linux-x86-64.so.2")
HOST_LIBC = Path(f"/lib/{TRIPLET}/libc.so.6")
INTERP = "/lib64/ld-linux-x86-64.so.2"

_TRACE_LINE = re.compile(r"^\t(?P<name>\S+)(?: => (?P<path>\S+|not found))?(?: \(0x[0-9a-f]+\))?$")
_VERSION_LINE = re.compile(r"^\t\t(?P<file>\S+) \((?P<version>[^)]+)\) => (?P<path>.+)$")


def require_gcc() -> None:
    require(shutil.which("gcc"), "gcc is not installed")


def gcc(out: Path, source: str, *flags: str, cplusplus: bool = False) -> Path:
    """Compile ``source`` (program text) to ``out`` with extra ``flags``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.parent / (out.name + (".cc" if cplusplus else ".c"))
    src.write_text(source)
    run(["g++" if cplusplus else "gcc", "-O1", "-o", out, src, *flags])
    src.unlink()
    return out


def shared(out: Path, source: str, soname: str | None = None, *flags: str) -> Path:
    """A shared library with SONAME ``soname`` (default: the file name)."""
    return gcc(out, source, "-shared", "-fPIC", f"-Wl,-soname,{soname or out.name}", *flags)


def mini_root(root: Path) -> Path:
    """A root holding the host's loader and libc at their Debian places."""
    require(HOST_LDSO.exists() and HOST_LIBC.exists(), "the host has no x86-64 glibc")
    lib = root / "usr/lib" / TRIPLET
    lib.mkdir(parents=True)
    (root / "usr/lib64").mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "proc").mkdir()
    shutil.copy2(os.path.realpath(HOST_LDSO), lib / "ld-linux-x86-64.so.2")
    shutil.copy2(os.path.realpath(HOST_LIBC), lib / "libc.so.6")
    (root / "usr/lib64/ld-linux-x86-64.so.2").symlink_to(f"../lib/{TRIPLET}/ld-linux-x86-64.so.2")
    for name in ("bin", "lib", "lib64"):
        (root / name).symlink_to(f"usr/{name}")
    return root


@dataclass
class Trace:
    """What the loader printed: ``name -> path`` (None: not found), versions, the error."""

    libraries: dict[str, str | None] = field(default_factory=dict)
    versions: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    error: str | None = None


def parse_trace(stdout: str, stderr: str, returncode: int) -> Trace:
    trace = Trace()
    section = None
    owner: str | None = None
    for line in stdout.splitlines():
        if line.strip() == "Version information:":
            section = "versions"
            continue
        if section == "versions":
            if line.startswith("\t\t"):
                match = _VERSION_LINE.match(line)
                assert match, line
                assert owner is not None
                found = match["path"] != "not found"
                trace.versions[(owner, match["file"], match["version"])] = found
            elif line.startswith("\t") and line.endswith(":"):
                owner = line.strip()[:-1]
            continue
        match = _TRACE_LINE.match(line)
        if match is None or match["name"].startswith(("linux-vdso", "linux-gate")):
            continue
        path = match["path"] or match["name"]
        trace.libraries[match["name"]] = None if path == "not found" else path
    if returncode != 0:
        trace.error = stderr.strip() or f"exit code {returncode}"
    return trace


_CLONE_NEWNS = 0x00020000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18


def _enter(root: Path, cwd: str) -> Callable[[], None]:
    """Run in the child: a private mount namespace with its own /proc, then chroot.

    ``$ORIGIN`` of a program comes from ``/proc/self/exe``, as in a container, so the root
    needs a /proc; the namespace keeps that mount away from the host.
    """
    libc = ctypes.CDLL(None, use_errno=True)

    def enter() -> None:
        if libc.unshare(_CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare")
        if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
            raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
        if libc.mount(b"proc", os.fsencode(root / "proc"), b"proc", 0, None) != 0:
            raise OSError(ctypes.get_errno(), "mount proc")
        os.chroot(root)
        os.chdir(cwd)

    return enter


def trace(
    root: Path,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
    explicit: bool = False,
) -> Trace:
    """The loader's trace of ``argv`` run inside ``root`` (chroot; needs root).

    ``explicit`` runs the file through the loader (``ld.so FILE``, as ``ldd`` does), which
    is how a library is traced; otherwise the kernel starts it, as a container would.
    """
    require_root()
    # as ldd does: the loader run on the file, with the trace variables set
    command = [INTERP, *argv] if explicit else list(argv)
    environment = {"LD_TRACE_LOADED_OBJECTS": "1", "LD_VERBOSE": "1", **(env or {})}
    (root / "proc").mkdir(exist_ok=True)
    proc = subprocess.run(
        command,
        env=environment,
        preexec_fn=_enter(root, cwd),
        capture_output=True,
        text=True,
        check=False,
    )
    return parse_trace(proc.stdout, proc.stderr, proc.returncode)


def ours(closure: Closure) -> dict[str, str | None]:
    """The resolver's answer in the trace's terms: each object's first name -> its path."""
    out: dict[str, str | None] = dict(closure.libraries())
    for dep in closure.dependencies:
        if dep.missing:
            out.setdefault(dep.name, None)
    return out


def assert_agrees(
    root: Path,
    program: str,
    *,
    config: LoaderConfig | None = None,
    env: Mapping[str, str] | None = None,
    explicit: bool = False,
) -> Closure:
    """The resolver and the real loader agree on what ``program`` loads inside ``root``."""
    config = config or LoaderConfig()
    closure = ClosureResolver(DirectoryView(root), config).closure(program)
    seen = trace(root, [program], env=env, cwd=config.cwd, explicit=explicit)
    if closure.failed:
        assert seen.error is not None, f"the loader started {program}: {seen.libraries}"
        reason = closure.failed[0].error
        assert reason is not None and reason in seen.error, (reason, seen.error)
        return closure
    assert seen.error is None or closure.unmet_versions, seen.error
    assert ours(closure) == seen.libraries, (ours(closure), seen.libraries)
    not_found = (VersionStatus.MISSING, VersionStatus.NOT_LOADED)
    unmet = {(v.file, v.version) for v in closure.versions if v.status in not_found}
    traced_unmet = {(f, v) for (_o, f, v), found in seen.versions.items() if not found}
    assert unmet == traced_unmet, (unmet, traced_unmet)
    return closure


def host_hwcaps() -> tuple[str, ...]:
    """The ``glibc-hwcaps`` subdirectories the host's loader searches, best first."""
    text = run([HOST_LDSO, "--help"]).stdout
    text = text if isinstance(text, str) else text.decode()
    block = text.split("Subdirectories of glibc-hwcaps directories, in priority order:", 1)
    if len(block) < 2:
        return ()
    names = []
    for line in block[1].splitlines()[1:]:
        if not line.startswith("  "):
            break
        name, _, state = line.strip().partition(" ")
        if "searched" in state:
            names.append(name)
    return tuple(names)


def host_platform(tmp: Path) -> str:
    """What the host's loader expands ``$PLATFORM`` to (glibc may override AT_PLATFORM)."""
    probe = gcc(
        tmp / "platform-probe", "int main(void){return 0;}", "-Wl,-rpath,/probe/$PLATFORM", "-lm"
    )
    proc = subprocess.run(
        [probe], env={"LD_DEBUG": "libs"}, capture_output=True, text=True, check=True
    )
    match = re.search(r"/probe/([^/:]+)", proc.stderr)
    assert match, proc.stderr
    return match[1]


def patch(path: Path, offset: int, data: bytes) -> Path:
    """Overwrite bytes of a file in place (hand-made fixtures: another machine, class)."""
    with path.open("r+b") as fh:
        fh.seek(offset)
        fh.write(data)
    return path
