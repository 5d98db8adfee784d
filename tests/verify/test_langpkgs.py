"""Language packages in the SBOM: Go build info, Python dist-info, npm, Maven; both formats.

The Go binary is built here by the host's Go toolchain (from a go.mod with a replaced
dependency) and read back without one; the documents are checked by spdx-tools and by the
CycloneDX 1.6 schema.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from distroless.layers.entry import Entry
from distroless.store import Store
from distroless.verify.golang import MAGIC, GoProbe, parse_buildinfo
from distroless.verify.image import from_store
from distroless.verify.langpkgs import language_packages
from distroless.verify.maven import read_jar
from distroless.verify.sbom import render_sbom
from distroless.verify.scan import scan_image
from tests.helpers import go_build, require_tool
from tests.verify.fakeimage import PLATFORM, base_entries, make_image
from tests.verify.validators import cyclonedx_problem, spdx_problems

GO_MOD = """module example.com/hello

go 1.19

require example.com/greet v1.2.3

replace example.com/greet => ./greet
"""
MAIN_GO = """package main

import (
\t"fmt"

\t"example.com/greet"
)

func main() { fmt.Println(greet.Hello()) }
"""


@pytest.fixture(scope="module")
def go_binary(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """A Go program with one (replaced) dependency, and the Go version that built it."""
    go = require_tool("go")
    src = tmp_path_factory.mktemp("gosrc")
    (src / "go.mod").write_text(GO_MOD)
    (src / "main.go").write_text(MAIN_GO)
    (src / "greet").mkdir()
    (src / "greet" / "go.mod").write_text("module example.com/greet\n\ngo 1.19\n")
    (src / "greet" / "greet.go").write_text(
        'package greet\n\nfunc Hello() string { return "hello" }\n'
    )
    out = go_build(src, tmp_path_factory.mktemp("gobin") / "hello")
    version = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return out.read_bytes(), version


def spdx_of(root: Path, name: str, layers: list[list[Entry]]) -> tuple[dict[str, Any], bytes]:
    make_image(root, name, layers)
    view = scan_image(from_store(Store(root), name, PLATFORM))
    data = render_sbom(view)
    assert spdx_problems(data) == []
    cdx = render_sbom(scan_image(from_store(Store(root), name, PLATFORM)), "cyclonedx-json")
    assert cyclonedx_problem(cdx) is None
    return json.loads(data), cdx


def by_purl(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for package in doc["packages"]:
        for ref in package.get("externalRefs", []):
            if ref["referenceType"] == "purl":
                out[ref["referenceLocator"]] = package
    return out


def contained(doc: dict[str, Any], spdx_id: str) -> set[str]:
    names = {f["SPDXID"]: f["fileName"] for f in doc.get("files", [])}
    return {
        names[r["relatedSpdxElement"]]
        for r in doc["relationships"]
        if r["spdxElementId"] == spdx_id and r["relatedSpdxElement"] in names
    }


def test_a_go_binary_lists_its_module_its_dependency_and_the_go_version(
    tmp_path: Path, go_binary: tuple[bytes, str]
) -> None:
    binary, go_version = go_binary
    doc, cdx = spdx_of(
        tmp_path, "goapp:1", [base_entries(), [Entry.file("app/hello", binary, mode=0o755)]]
    )
    packages = by_purl(doc)
    main = packages["pkg:golang/example.com/hello@%28devel%29"]
    assert main["name"] == "example.com/hello"
    assert f"go.version={go_version}" in main["comment"]
    assert "go.module.role=main" in main["comment"]
    assert contained(doc, main["SPDXID"]) == {"./app/hello"}
    # a dependency replaced by a directory keeps its name and says where it came from
    dep = packages["pkg:golang/example.com/greet@v1.2.3"]
    assert "go.module.replacement=./greet" in dep["comment"]
    stdlib = packages[f"pkg:golang/stdlib@{go_version.removeprefix('go')}"]
    assert stdlib["versionInfo"] == go_version
    (hello_file,) = [f for f in doc["files"] if f["fileName"] == "./app/hello"]
    assert {"algorithm": "SHA256", "checksumValue": hashlib.sha256(binary).hexdigest()} in (
        hello_file["checksums"]
    )
    components = {c.get("purl"): c for c in json.loads(cdx)["components"]}
    go_main = components["pkg:golang/example.com/hello@%28devel%29"]
    assert {"name": "distroless:go.version", "value": go_version} in go_main["properties"]
    assert go_main["evidence"]["occurrences"] == [{"location": "/app/hello"}]


def test_go_probe_reads_the_build_info_from_any_chunking(go_binary: tuple[bytes, str]) -> None:
    binary, go_version = go_binary
    for size in (1, 13, 4096, 1 << 20):
        probe = GoProbe()
        for start in range(0, len(binary), size):
            probe.feed(binary[start : start + size])
            if size == 1 and start > 300_000 and not probe.active:
                break
        info = probe.result()
        assert info is not None and info.go_version == go_version
        assert info.main is not None and info.main.path == "example.com/hello"
        if size == 1:
            break  # byte by byte once is enough


def test_the_magic_outside_a_go_binary_is_not_build_info(go_binary: tuple[bytes, str]) -> None:
    binary, _ = go_binary
    start = binary.index(MAGIC)
    # a blob whose strings run past its end, or with the old pointer layout, is refused
    assert parse_buildinfo(binary[start : start + 40]) is None
    assert parse_buildinfo(binary[start : start + 15] + b"\x00" + binary[start + 16 :]) is None
    # the magic in a file that is not ELF, or only in a read-only part of an ELF, is no info
    probe = GoProbe()
    probe.feed(b"\x00" * 4096 + binary[start:])
    assert probe.result() is None
    corrupted = bytearray(binary)
    corrupted[start] ^= 0xFF  # the real blob broken: what is left of the magic is not aligned
    probe = GoProbe()
    probe.feed(bytes(corrupted))
    assert probe.result() is None


def dist_info(site: str, name: str, version: str, files: dict[str, bytes]) -> list[Entry]:
    info = f"{site}/{name.replace('-', '_')}-{version}.dist-info"
    record = "".join(f"{path},,\n" for path in files)
    record += f"{info.removeprefix(site + '/')}/METADATA,,\n"
    metadata = (
        f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n"
        "License-Expression: MIT OR Apache-2.0\nSummary: a test package\n\nBody text.\n"
    )
    entries = [
        Entry.file(f"{info}/METADATA", metadata.encode()),
        Entry.file(f"{info}/RECORD", record.encode()),
    ]
    for path, data in files.items():
        entries.append(Entry.file(f"{site}/{path}", data))
    return entries


def test_python_wheels_are_listed_with_the_files_their_record_names(tmp_path: Path) -> None:
    site = "usr/local/lib/python3.13/site-packages"
    doc, cdx = spdx_of(
        tmp_path,
        "py:1",
        [
            base_entries(),
            dist_info(site, "Requests_Toolbelt", "1.0.0", {"requests_toolbelt/__init__.py": b"x"}),
            dist_info(site, "six", "1.16.0", {"six.py": b"import sys", "../../../bin/six": b"#!"}),
        ],
    )
    packages = by_purl(doc)
    toolbelt = packages["pkg:pypi/requests-toolbelt@1.0.0"]
    assert toolbelt["licenseDeclared"] == "MIT OR Apache-2.0"
    assert toolbelt["filesAnalyzed"] is True
    assert contained(doc, toolbelt["SPDXID"]) == {
        f"./{site}/requests_toolbelt/__init__.py",
        f"./{site}/Requests_Toolbelt-1.0.0.dist-info/METADATA",
    }
    six = packages["pkg:pypi/six@1.16.0"]
    assert "./usr/local/bin/six" in contained(doc, six["SPDXID"])
    names = {c["name"] for c in json.loads(cdx)["components"] if c["type"] == "library"}
    assert names == {"Requests_Toolbelt", "six"}


def package_json(name: str, version: str, **extra: object) -> bytes:
    return json.dumps({"name": name, "version": version, **extra}).encode()


def test_npm_packages_own_their_directory_but_not_nested_packages(tmp_path: Path) -> None:
    nm = "app/node_modules"
    doc, cdx = spdx_of(
        tmp_path,
        "node:1",
        [
            base_entries(),
            [
                Entry.file("app/package.json", package_json("the-app", "0.0.1")),  # not a dep
                Entry.file(
                    f"{nm}/express/package.json", package_json("express", "4.19.2", license="MIT")
                ),
                Entry.file(f"{nm}/express/index.js", b"module.exports = 1"),
                Entry.file(
                    f"{nm}/express/node_modules/debug/package.json",
                    package_json("debug", "2.6.9", license={"type": "MIT"}),
                ),
                Entry.file(f"{nm}/express/node_modules/debug/src/index.js", b"debug"),
                Entry.file(
                    f"{nm}/@types/node/package.json",
                    package_json("@types/node", "20.1.0", license="SEE LICENSE IN x"),
                ),
                Entry.file(f"{nm}/broken/package.json", b"{not json"),
            ],
        ],
    )
    packages = by_purl(doc)
    assert set(packages) >= {
        "pkg:npm/express@4.19.2",
        "pkg:npm/debug@2.6.9",
        "pkg:npm/%40types/node@20.1.0",
    }
    assert not any("the-app" in purl or "broken" in purl for purl in packages)
    express = packages["pkg:npm/express@4.19.2"]
    assert express["licenseDeclared"] == "MIT"
    assert contained(doc, express["SPDXID"]) == {
        f"./{nm}/express/index.js",
        f"./{nm}/express/package.json",
    }
    assert packages["pkg:npm/%40types/node@20.1.0"]["licenseDeclared"] == "NOASSERTION"
    scoped = next(c for c in json.loads(cdx)["components"] if c.get("group") == "@types")
    assert scoped["name"] == "node"


def jar(poms: dict[str, str], nested: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        for coordinates, version in poms.items():
            group, artifact = coordinates.split(":")
            archive.writestr(
                f"META-INF/maven/{group}/{artifact}/pom.properties",
                f"# generated\ngroupId={group}\nartifactId={artifact}\nversion={version}\n",
            )
        for name, data in (nested or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_jars_name_their_maven_artifacts_nested_jars_included(tmp_path: Path) -> None:
    inner = jar({"org.slf4j:slf4j-api": "2.0.13"})
    app = jar(
        {"com.example:app": "1.4.0", "com.google.guava:guava": "33.0.0-jre"},
        {"BOOT-INF/lib/slf4j-api-2.0.13.jar": inner},
    )
    assert {a.artifact_id for a in read_jar(io.BytesIO(app))} == {"app", "guava", "slf4j-api"}
    doc, _ = spdx_of(
        tmp_path,
        "java:1",
        [
            base_entries(),
            [Entry.file("app/app.jar", app), Entry.file("app/notajar.jar", b"PK broken")],
        ],
    )
    packages = by_purl(doc)
    assert set(packages) >= {
        "pkg:maven/com.example/app@1.4.0",
        "pkg:maven/com.google.guava/guava@33.0.0-jre",
        "pkg:maven/org.slf4j/slf4j-api@2.0.13",
    }
    nested = packages["pkg:maven/org.slf4j/slf4j-api@2.0.13"]
    assert nested["sourceInfo"] == "declared by /app/app.jar!/BOOT-INF/lib/slf4j-api-2.0.13.jar"
    assert contained(doc, nested["SPDXID"]) == {"./app/app.jar"}


def test_a_package_replaced_by_a_later_layer_is_not_listed(tmp_path: Path) -> None:
    nm = "app/node_modules"
    make_image(
        tmp_path,
        "gone:1",
        [
            [Entry.file(f"{nm}/left-pad/package.json", package_json("left-pad", "1.0.0"))],
            [Entry.whiteout(f"{nm}/left-pad")],
        ],
    )
    view = scan_image(from_store(Store(tmp_path), "gone:1", PLATFORM))
    assert language_packages(view) == []


def test_no_toolchain_is_needed_to_read_the_build_info(
    tmp_path: Path, go_binary: tuple[bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    binary, go_version = go_binary
    monkeypatch.setenv("PATH", str(tmp_path))  # no go on PATH while the SBOM is made
    assert shutil.which("go") is None
    make_image(tmp_path / "s", "g:1", [[Entry.file("hello", binary, mode=0o755)]])
    view = scan_image(from_store(Store(tmp_path / "s"), "g:1", PLATFORM))
    info = view.go_buildinfo("/hello")
    assert info is not None and info.go_version == go_version


def test_module_info_lines_as_go_version_m_prints_them() -> None:
    from distroless.verify.golang import parse_modinfo

    text = (
        "path\texample.com/cmd/tool\n"
        "mod\texample.com\tv1.0.0\th1:main=\n"
        "dep\tgolang.org/x/sys\tv0.1.0\th1:sys=\n"
        "dep\texample.org/old\tv0.2.0\th1:old=\n"
        "=>\texample.org/new\tv0.3.0\th1:new=\n"
        'build\t-ldflags="-s -w"\n'
        "build\tvcs.revision=abc123\n"
    )
    main_package, main, deps, settings = parse_modinfo(text)
    assert main_package == "example.com/cmd/tool"
    assert main is not None and (main.path, main.version, main.sum) == (
        "example.com",
        "v1.0.0",
        "h1:main=",
    )
    assert deps[1].replacement is not None and deps[1].replacement.path == "example.org/new"
    assert ("-ldflags", "-s -w") in settings and ("vcs.revision", "abc123") in settings
