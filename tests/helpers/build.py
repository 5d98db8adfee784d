"""Building small test programs with the host's Go and gcc.

Go builds are offline (no module proxy) and use a cache under /var/tmp that survives runs,
because compiling the standard library dominates the first build.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from pathlib import Path

from tests.helpers.proc import run

GO_CACHE_ROOT = Path(
    os.environ.get("DISTROLESS_TEST_GO_CACHE", "/var/tmp/distroless-test-cache/go")
)

HELLO_LINE = "hello from a distroless test binary"

_GO_MOD = "module testprog\n\ngo 1.19\n"


def hello_go_source(line: str = HELLO_LINE) -> str:
    """Source of a Go program printing ``line`` and exiting 0 (also echoes its args, if any)."""
    return (
        "package main\n\n"
        'import (\n\t"fmt"\n\t"os"\n\t"strings"\n)\n\n'
        "func main() {\n"
        f"\tfmt.Println({_go_string(line)})\n"
        "\tif len(os.Args) > 1 {\n"
        '\t\tfmt.Println(strings.Join(os.Args[1:], " "))\n'
        "\t}\n"
        "}\n"
    )


def _go_string(text: str) -> str:
    import json

    return json.dumps(text)  # a JSON string literal is a valid Go interpreted string literal


def _host_goarch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def go_build(src: str | Path, out: Path, *, static: bool = True, goarch: str = "amd64") -> Path:
    """Build a Go ``main`` package and return ``out``.

    ``src`` is a directory holding the package, a ``.go`` file, or Go source text (anything
    containing ``package main``). ``static`` builds with CGO_ENABLED=0; dynamic builds link
    against the host's libc and only work for the host architecture.
    """
    go = shutil.which("go")
    if go is None:
        raise FileNotFoundError("go is not installed (Debian package golang-go)")
    if not static and goarch != _host_goarch():
        raise ValueError(f"a dynamic Go build for {goarch} needs a cross C toolchain")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    GO_CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="distroless-go-") as tmp:
        work = Path(tmp) / "src"
        if isinstance(src, str) and "package main" in src:
            work.mkdir()
            (work / "main.go").write_text(src)
        else:
            path = Path(src)
            if path.is_dir():
                shutil.copytree(path, work)
            elif path.is_file():
                work.mkdir()
                shutil.copy(path, work / "main.go")
            else:
                raise FileNotFoundError(f"no Go source at {path}")
        if not (work / "go.mod").exists():
            (work / "go.mod").write_text(_GO_MOD)
        env = {
            "CGO_ENABLED": "0" if static else "1",
            "GOOS": "linux",
            "GOARCH": goarch,
            "GOCACHE": str(GO_CACHE_ROOT / "build"),
            "GOPATH": str(Path(tmp) / "gopath"),
            "GOMODCACHE": str(Path(tmp) / "gopath" / "mod"),
            "GOFLAGS": "-mod=mod",
            "GOPROXY": "off",
            "GOSUMDB": "off",
            "GOTOOLCHAIN": "local",
            "GOENV": "off",
            "GOWORK": "off",
        }
        run([go, "build", "-ldflags=-s -w", "-o", out.resolve(), "."], env=env, cwd=work)
    return out


def c_build(
    src: str | Path,
    out: Path,
    *,
    cplusplus: bool = False,
    static: bool = False,
    flags: tuple[str, ...] = (),
) -> Path:
    """Compile a C (or C++) program with the host's gcc/g++ and return ``out``.

    ``src`` is a source file or program text. Dynamic by default, because these programs
    exist to test that base images carry the shared libraries they need.
    """
    compiler = shutil.which("g++" if cplusplus else "gcc")
    if compiler is None:
        raise FileNotFoundError("g++ is not installed" if cplusplus else "gcc is not installed")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="distroless-cc-") as tmp:
        if isinstance(src, Path) or (
            isinstance(src, str) and "\n" not in src and Path(src).is_file()
        ):
            source = Path(src)
        else:
            source = Path(tmp) / ("main.cc" if cplusplus else "main.c")
            source.write_text(str(src))
        argv: list[str | os.PathLike[str]] = [compiler, "-O2", "-o", out, source, *flags]
        if static:
            argv.append("-static")
        run(argv)
    return out
