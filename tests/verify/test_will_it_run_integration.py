"""``check`` predicts whether real images start: each failing image is run and fails.

The images are what users build: a C++ program on ``base`` (no libstdc++), a program
compiled with Debian 13's toolchain on ``cc-debian12`` (glibc 2.36, the program needs
``GLIBC_2.38``), an x86-64 program in the arm64 image of a two-arch spec, an entrypoint
that does not exist, a ``#!/bin/sh`` script on ``static``.  ``check`` must fail each one
naming the missing piece, and ``distroless run`` must fail too; the same programs on a
base that has what they need pass ``check`` and run.  Every base, tag and architecture
this project builds passes, and a digest gets the same report under any name.

The Debian 13 toolchain is a builder image made by ``distroless build --spec`` from
Debian's ``gcc``, ``g++`` and ``libc6-dev``; the host (Debian 12) compiles the other
programs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from distroless.bases.build import BuiltBase, build_bases
from distroless.bases.locks import read_lock
from distroless.bases.recipe import TAGS, Recipes
from distroless.debian.provider import PackageSource
from distroless.debian.sources import read_apt_sources
from distroless.oci.models import Platform
from distroless.store import Store
from distroless.verify.platforms import check_stored, image_platforms
from tests.helpers import Cli, c_build, require_root, require_tool
from tests.helpers.bases import core_base_names

pytestmark = [pytest.mark.integration, pytest.mark.network]

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")

CXX = r"""
#include <iostream>
#include <string>
int main() { std::string s = "hello from C++"; std::cout << s << std::endl; return 0; }
"""

# strlcpy is new in glibc 2.38: a program using it needs GLIBC_2.38
NEW_GLIBC = r"""
#include <stdio.h>
#include <string.h>
int main(void) {
    char buf[32];
    strlcpy(buf, "built with glibc 2.41", sizeof buf);
    puts(buf);
    return 0;
}
"""

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello from C"); return 0; }\n'

BUILDER_SPEC = """\
packages: [gcc, g++, libc6-dev, base-files]
archs: [amd64]
files:
  - dst: /tmp
    type: directory
    mode: 01777
  - dst: /work
    type: directory
env:
  PATH: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
workdir: /work
"""


@pytest.fixture(scope="module")
def package_env(package_cache: Path) -> dict[str, str | None]:
    if not read_apt_sources(Path("/")):
        pytest.skip("this host has no apt sources naming a Debian archive")
    return {"DISTROLESS_CACHE": str(package_cache)}


@pytest.fixture(scope="module")
def bases(
    tmp_path_factory: pytest.TempPathFactory,
    package_cache: Path,
    package_env: dict[str, str | None],
) -> tuple[Cli, list[BuiltBase]]:
    """The core bases of both distros, every tag, amd64 and arm64, in one store (the java and
    nodejs bases are checked by tests/integration/test_bases_family.py)."""
    root = tmp_path_factory.mktemp("will-it-run")
    store = Store(root)
    recipes = Recipes.builtin()
    built: list[BuiltBase] = []
    source = PackageSource(package_cache)
    try:
        for distro in ("debian13", "debian12"):
            names = core_base_names(recipes, distro)
            built += build_bases(
                store,
                source,
                [recipes.get(n, distro) for n in names],
                [(n, TAGS) for n in names],
                read_lock(recipes, distro),
                archs=("amd64", "arm64"),
            )
    finally:
        source.close()
    return Cli(root), built


@pytest.fixture(scope="module")
def builder(
    bases: tuple[Cli, list[BuiltBase]],
    package_env: dict[str, str | None],
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A Debian 13 C toolchain image; resolving it also caches Debian 13's indices."""
    cli, _ = bases
    spec = tmp_path_factory.mktemp("builder") / "image.yaml"
    spec.write_text(BUILDER_SPEC)
    cli("build", "--spec", spec, "-t", "gcc-trixie:1", "--no-sbom", env=package_env).check()
    return "gcc-trixie:1"


def spec_image(cli: Cli, tmp: Path, name: str, text: str) -> str:
    spec = tmp / f"{name.replace(':', '-')}.yaml"
    spec.write_text(text)
    cli("build", "--spec", spec, "-t", name, "--no-sbom").check()
    return name


def program_on(base: str, *, archs: str = "[amd64]") -> str:
    return (
        f"base: {base}\narchs: {archs}\n"
        "files:\n  - {src: app, dst: /app, mode: 0755}\n"
        'entrypoint: ["/app"]\n'
    )


def check_json(cli: Cli, name: str, *args: str) -> tuple[int, dict[str, object]]:
    """``check --json`` with the shared package cache, whose indices name packages."""
    from tests.conftest import PACKAGE_CACHE

    result = cli("check", name, "--json", *args, env={"DISTROLESS_CACHE": str(PACKAGE_CACHE)})
    report = json.loads(result.stdout)
    assert isinstance(report, dict)
    return result.exit_code, report


def findings(report: dict[str, object]) -> list[dict[str, str]]:
    items = report["findings"]
    assert isinstance(items, list)
    return items


def run(cli: Cli, name: str) -> tuple[int, str]:
    require_root()
    require_tool("runc")
    result = cli.subprocess("run", "--rm", name)
    return result.exit_code, result.stdout + result.stderr


# --- every base passes ----------------------------------------------------------------------


def test_every_base_tag_and_architecture_passes(bases: tuple[Cli, list[BuiltBase]]) -> None:
    cli, built = bases
    store = Store(cli.root)
    failures: dict[str, list[str]] = {}
    timings = []
    for base in built:
        name = base.refs[0]
        started = time.perf_counter()
        result = check_stored(store, name)
        timings.append((time.perf_counter() - started, name))
        assert {r.platform for r in result.reports} == {"linux/amd64", "linux/arm64"}, name
        for platform, item in result.findings():
            failures.setdefault(f"{name} {platform}", []).append(item.message)
    slowest = sorted(timings, reverse=True)[:3]
    print(f"checked {len(built)} bases x 2 architectures; slowest: {slowest}")
    assert len(built) == (5 + 5) * len(TAGS)  # python3 on Debian 12 too
    assert failures == {}


def test_a_digest_gets_the_same_report_under_any_tag(bases: tuple[Cli, list[BuiltBase]]) -> None:
    cli, _ = bases
    store = Store(cli.root)
    for source in ("distroless/base:debug", "distroless/python3:debug-nonroot"):
        desc = store.resolve(source)
        store.tag("elsewhere/tools:troubleshoot", desc)
        store.tag("elsewhere/tools:nonroot", desc)
        reports = []
        for name in (source, "elsewhere/tools:troubleshoot", "elsewhere/tools:nonroot"):
            code, report = check_json(cli, name, "--platform", "linux/amd64")
            report.pop("image")
            reports.append((code, report))
        assert reports[0][0] == 0
        assert reports[1] == reports[0] and reports[2] == reports[0], source


# --- what does not start ----------------------------------------------------------------------


def test_a_cxx_program_on_base(
    bases: tuple[Cli, list[BuiltBase]], builder: str, tmp_path: Path
) -> None:
    cli, _ = bases
    c_build(CXX, tmp_path / "app", cplusplus=True)
    image = spec_image(cli, tmp_path, "cxx-on-base:1", program_on("distroless/base:latest"))
    code, report = check_json(cli, image)
    assert code == 1
    missing = {(f["kind"], f["path"], f["missing"], f.get("package")) for f in findings(report)}
    assert missing == {
        ("missing-library", "/app", "libstdc++.so.6", "libstdc++6"),
        ("missing-library", "/app", "libgcc_s.so.1", "libgcc-s1"),  # base leaves it out
    }
    # a cache that never built for Debian 13 names nothing, unless the indices may be fetched
    fresh = {"DISTROLESS_CACHE": str(tmp_path / "fresh-cache")}
    offline = json.loads(cli("check", image, "--json", env=fresh).stdout)
    assert [f.get("package") for f in findings(offline)] == [None, None]
    assert not (tmp_path / "fresh-cache").exists()
    fetched = json.loads(cli("check", image, "--json", "--suggest", "fetch", env=fresh).stdout)
    assert {f.get("package") for f in findings(fetched)} == {"libstdc++6", "libgcc-s1"}
    code, output = run(cli, image)
    assert code != 0 and "cannot open shared object file" in output
    assert "libstdc++.so.6" in output or "libgcc_s.so.1" in output
    # on cc it has its library: check passes and the program runs
    on_cc = spec_image(cli, tmp_path, "cxx-on-cc:1", program_on("distroless/cc:latest"))
    assert check_json(cli, on_cc)[0] == 0
    assert run(cli, on_cc) == (0, "hello from C++\n")


def test_a_debian13_build_on_cc_debian12(
    bases: tuple[Cli, list[BuiltBase]], builder: str, tmp_path: Path
) -> None:
    cli, _ = bases
    require_root()
    require_tool("runc")
    (tmp_path / "main.c").write_text(NEW_GLIBC)
    compiled = cli.subprocess(
        "run", "--rm", "-v", f"{tmp_path}:/work", builder, "gcc", "-O2", "-o", "app", "main.c"
    )
    assert compiled.exit_code == 0, compiled.stderr
    image = spec_image(cli, tmp_path, "new-on-old:1", program_on("distroless/cc-debian12:latest"))
    code, report = check_json(cli, image)
    assert code == 1
    [item] = findings(report)
    assert (item["kind"], item["path"], item["missing"]) == (
        "missing-version",
        "/app",
        "GLIBC_2.38",
    )
    assert item["package"] == "libc6" and "2.36" in item["message"]
    code, output = run(cli, image)
    assert code != 0 and "GLIBC_2.38" in output
    # on Debian 13's cc it finds its glibc
    on_13 = spec_image(cli, tmp_path, "new-on-new:1", program_on("distroless/cc:latest"))
    assert check_json(cli, on_13)[0] == 0
    assert run(cli, on_13) == (0, "built with glibc 2.41\n")


def test_a_debian13_cxx_build_on_cc_debian12(
    bases: tuple[Cli, list[BuiltBase]], builder: str, tmp_path: Path
) -> None:
    """g++ 14's <iostream> calls std::ios_base_library_init, a GLIBCXX_3.4.32 symbol that
    Debian 12's libstdc++ (gcc 12, up to GLIBCXX_3.4.30) does not define."""
    cli, _ = bases
    require_root()
    require_tool("runc")
    (tmp_path / "main.cc").write_text(CXX)
    compiled = cli.subprocess(
        "run", "--rm", "-v", f"{tmp_path}:/work", builder, "g++", "-O2", "-o", "app", "main.cc"
    )
    assert compiled.exit_code == 0, compiled.stderr
    image = spec_image(
        cli, tmp_path, "cxx-new-on-old:1", program_on("distroless/cc-debian12:latest")
    )
    code, report = check_json(cli, image)
    assert code == 1
    [item] = findings(report)
    assert (item["kind"], item["path"], item["missing"], item["package"]) == (
        "missing-version",
        "/app",
        "GLIBCXX_3.4.32",
        "libstdc++6",
    )
    assert "from libstdc++.so.6" in item["message"] and "libstdc++6 12.2.0" in item["message"]
    code, output = run(cli, image)
    assert code != 0 and "GLIBCXX_3.4.32" in output
    on_13 = spec_image(cli, tmp_path, "cxx-new-on-new:1", program_on("distroless/cc:latest"))
    assert check_json(cli, on_13)[0] == 0
    assert run(cli, on_13) == (0, "hello from C++\n")


def test_an_x86_64_program_in_the_arm64_image_of_a_two_arch_spec(
    bases: tuple[Cli, list[BuiltBase]], tmp_path: Path
) -> None:
    cli, _ = bases
    c_build(HELLO_C, tmp_path / "app")
    spec = program_on("distroless/base:latest", archs="[amd64, arm64]")
    image = spec_image(cli, tmp_path, "two-arch:1", spec)
    store = Store(cli.root)
    assert image_platforms(store, image) == [AMD64, ARM64]
    code, report = check_json(cli, image)
    assert code == 1
    assert [(f["platform"], f["kind"], f["path"]) for f in findings(report)] == [
        ("linux/arm64", "wrong-architecture", "/app")
    ]
    assert "amd64" in findings(report)[0]["message"]
    # the arm64 image does not start (its x86-64 loader is not there); the amd64 one does
    arm64 = store.load_image(image, ARM64).digest
    assert check_json(cli, arm64)[0] == 1
    code, output = run(cli, arm64)
    assert code != 0, output
    assert run(cli, image) == (0, "hello from C\n")


def _store_files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*"))


def test_pack_from_one_architecture_of_a_stored_image_onto_static(
    bases: tuple[Cli, list[BuiltBase]], tmp_path: Path
) -> None:
    """The CLI's ``--from IMAGE --arch A --base static``: the packed amd64 program starts; the
    arm64 image's x86-64 program is refused naming its architecture, and nothing is stored."""
    cli, _ = bases
    c_build(HELLO_C, tmp_path / "app")
    spec = program_on("distroless/base:latest", archs="[amd64, arm64]")
    source = spec_image(cli, tmp_path, "two-arch-source:1", spec)
    before = _store_files(cli.root)
    wrong = cli("pack", "/app", "--from", source, "--arch", "arm64", "-t", "hello-arm64:1")
    assert wrong.exit_code == 9
    assert wrong.stderr == "error: cannot pack /app: amd64 binary, but the image is arm64\n"
    assert _store_files(cli.root) == before
    packed = cli(
        "pack", "/app", "--from", source, "--arch", "amd64", "--base", "static",
        "-t", "hello-packed:1", "--json",
    )  # fmt: skip
    report = packed.json()
    assert isinstance(report, dict), packed.stderr
    assert report["packages"] == ["libc6"]
    store = Store(cli.root)
    assert image_platforms(store, "hello-packed:1") == [AMD64]
    # static's own layers, then the one packed layer
    layers = store.load_image("hello-packed:1", AMD64).manifest.layers
    static = store.load_image("distroless/static:latest", AMD64).manifest.layers
    assert layers[: len(static)] == static and len(layers) == len(static) + 1
    assert check_json(cli, "hello-packed:1")[0] == 0
    assert run(cli, "hello-packed:1") == (0, "hello from C\n")
    # the same, onto nothing: --base scratch is the default
    cli("pack", "/app", "--from", source, "--arch", "amd64", "-t", "hello-scratch:1").check()
    assert run(cli, "hello-scratch:1") == (0, "hello from C\n")


def test_an_entrypoint_that_does_not_exist_on_static(
    bases: tuple[Cli, list[BuiltBase]], tmp_path: Path
) -> None:
    cli, _ = bases
    image = spec_image(
        cli, tmp_path, "absent:1", 'base: distroless/static:latest\nentrypoint: ["/server"]\n'
    )
    code, report = check_json(cli, image)
    assert code == 1
    assert [(f["kind"], f["missing"]) for f in findings(report)] == [
        ("command-not-found", "/server")
    ]
    code, output = run(cli, image)
    assert code != 0 and "/server" in output


def test_a_shell_script_entrypoint_on_static(
    bases: tuple[Cli, list[BuiltBase]], tmp_path: Path
) -> None:
    cli, _ = bases
    spec = (
        "base: distroless/static:latest\n"
        "files:\n"
        "  - dst: /start.sh\n    mode: 0755\n"
        '    content: "#!/bin/sh\\necho started\\n"\n'
        'entrypoint: ["/start.sh"]\n'
    )
    image = spec_image(cli, tmp_path, "script:1", spec)
    code, report = check_json(cli, image)
    assert code == 1
    assert [(f["kind"], f["path"], f["missing"]) for f in findings(report)] == [
        ("missing-interpreter", "/start.sh", "/bin/sh")
    ]
    code, output = run(cli, image)
    assert code != 0 and "started" not in output
