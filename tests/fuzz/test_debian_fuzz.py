"""deb822, relation fields and dpkg versions: a value or a DistrolessError for any text."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from distroless.debian.deb822 import Paragraph, dump, parse_paragraph, parse_paragraphs
from distroless.debian.lockfile import Lockfile
from distroless.debian.relations import parse_provides, parse_relations
from distroless.debian.version import Version, compare_versions
from tests.fuzz.mutate import fuzz_settings, json_broken, mutated_text, result_or_error

CONTROL = """Package: libc6
Source: glibc
Version: 2.36-9+deb12u4
Architecture: amd64
Multi-Arch: same
Depends: libgcc-s1, gcc-12-base (= 12.2.0-14)
Recommends: libidn2-0 (>= 2.0.5~)
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
 .
 More text.
"""
RELATIONS = [
    "libc6 (>= 2.34), libgcc-s1 | libgcc1, foo:any [amd64 !i386] <!nocheck> <stage1 cross>",
    "a (<< 1:2.0~rc1-1), b (>> 0), c (= 1.0), d (<= 2), e:native",
    "python3:any (>= 3.11~) [linux-any], dpkg (>= 1.15.6~) | install-info",
]
VERSIONS = ["1:2.36-9+deb12u4", "1.0~rc1", "0", "2:1.2.3.4-5.6~bpo12+1", "9999999999:1-1", "1.0-"]


@fuzz_settings(500)
@given(mutated_text([CONTROL, CONTROL + "\n" + CONTROL, "A: b\n\n\n C: d\n#x\n"]))
def test_deb822_never_crashes(text: str) -> None:
    result = result_or_error(lambda: parse_paragraphs(text, "fuzz"))
    if isinstance(result, list):
        for paragraph in result:
            assert isinstance(paragraph, Paragraph)
            again = result_or_error(lambda p=paragraph: parse_paragraph(dump(p), "dump"))  # type: ignore[misc]
            if isinstance(again, Paragraph):
                assert dict(again) == dict(paragraph)
    result_or_error(lambda: parse_paragraphs(text, "fuzz", allow_comments=True))


@fuzz_settings(500)
@given(mutated_text(RELATIONS))
def test_relations_never_crash(text: str) -> None:
    deps = result_or_error(lambda: parse_relations(text, "Depends"))
    if isinstance(deps, tuple):
        for dep in deps:
            for rel in dep.alternatives:
                str(rel)
                rel.applies_to("amd64")
    result_or_error(lambda: parse_provides(text))


@fuzz_settings(500)
@given(mutated_text(VERSIONS), mutated_text(VERSIONS))
def test_versions_never_crash(a: str, b: str) -> None:
    va = result_or_error(lambda: Version.parse(a))
    vb = result_or_error(lambda: Version.parse(b))
    if isinstance(va, Version) and isinstance(vb, Version):
        assert compare_versions(va, vb) == -compare_versions(vb, va)
        assert compare_versions(va, va) == 0
        assert result_or_error(lambda: Version.parse(str(va))) == va


@fuzz_settings(200)
@given(st.text(max_size=80))
def test_version_random_text(text: str) -> None:
    result_or_error(lambda: Version.parse(text))
    result_or_error(lambda: parse_relations(text))


_LOCK_PATH = Path(__file__).parents[2] / "src" / "distroless" / "bases" / "locks"
_LOCK = json.loads((_LOCK_PATH / "debian12.lock.json").read_text())
_LOCK["archs"] = {arch: pkgs[:2] for arch, pkgs in _LOCK["archs"].items()}


@fuzz_settings(400)
@given(json_broken([_LOCK]))
def test_lockfile_never_crashes(data: bytes) -> None:
    result = result_or_error(lambda: Lockfile.loads(data.decode(), "image.lock.json"))
    if isinstance(result, Lockfile):
        assert Lockfile.loads(result.dumps()) == result


@fuzz_settings(200)
@given(mutated_text([json.dumps(_LOCK, indent=2)], max_ops=2))
def test_lockfile_damaged_text(text: str) -> None:
    result_or_error(lambda: Lockfile.loads(text, "image.lock.json"))
