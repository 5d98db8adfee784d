"""image.lock.json: model, deterministic text, validation and staleness checks."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from distroless.debian.deb822 import Paragraph
from distroless.debian.lockfile import (
    LockedPackage,
    LockedSuite,
    Lockfile,
    SpecInputs,
    check_lock_matches,
)
from distroless.debian.resolver import PackageIndex, resolve
from distroless.errors import LockfileError, StoreError

HEX_A = "a" * 64
HEX_B = "b" * 64

INPUTS = SpecInputs(
    distro="debian13",
    packages=("libc6", "zlib1g"),
    exclude=("libgcc-s1",),
    resolve=True,
    archs=("amd64", "arm64"),
    repositories=({"url": "http://mirror.invalid/debian", "suites": ["trixie"]},),
)


def _index(arch: str) -> PackageIndex:
    def p(name: str, version: str, depends: str = "") -> Paragraph:
        fields = [
            ("Package", name),
            ("Version", version),
            ("Architecture", arch),
            ("Filename", f"pool/main/{name}_{version}_{arch}.deb"),
            ("Size", "1234"),
            ("SHA256", HEX_A if name == "libc6" else HEX_B),
        ]
        if depends:
            fields.append(("Depends", depends))
        if name == "libc6":
            fields.append(("Source", "glibc"))
        return Paragraph(fields)

    return PackageIndex.from_paragraphs(
        arch, [p("zlib1g", "1:1.3.dfsg-3", "libc6 (>= 2.14)"), p("libc6", "2.41-12")]
    )


def make_lock() -> Lockfile:
    suites = [
        LockedSuite.at(
            "trixie",
            "http://mirror.invalid/debian",
            HEX_A.upper(),
            datetime(2025, 8, 9, 10, 0, tzinfo=UTC),
        ),
        LockedSuite(
            "trixie-security",
            "http://mirror.invalid/debian-security",
            HEX_B,
            "2025-08-10T00:00:00Z",
        ),
    ]
    resolved = {arch: resolve(_index(arch), INPUTS.packages) for arch in ("arm64", "amd64")}
    return Lockfile.build(INPUTS, suites, resolved)


def test_build_records_install_order_and_pins() -> None:
    lock = make_lock()
    assert lock.version == 1
    assert lock.distro == "debian13"
    assert [p.name for p in lock.archs["amd64"]] == ["libc6", "zlib1g"]
    libc = lock.archs["amd64"][0]
    assert libc == LockedPackage(
        name="libc6",
        version="2.41-12",
        architecture="amd64",
        filename="pool/main/libc6_2.41-12_amd64.deb",
        size=1234,
        sha256=HEX_A,
        source="glibc",
    )
    assert lock.archs["arm64"][1].source == "zlib1g"  # no Source field: the package itself
    assert lock.suites[0].inrelease_sha256 == HEX_A
    assert lock.suites[0].date == "2025-08-09T10:00:00Z"
    assert lock.spec_digest == INPUTS.digest()


def test_text_is_sorted_indented_and_stable() -> None:
    text = make_lock().dumps()
    assert text.endswith("}\n")
    assert text.startswith('{\n  "archs": {\n    "amd64": [\n')
    data = json.loads(text)
    assert list(data) == ["archs", "distro", "spec_digest", "suites", "version"]
    assert list(data["archs"]) == ["amd64", "arm64"]
    assert list(data["archs"]["amd64"][0]) == [
        "architecture",
        "filename",
        "name",
        "sha256",
        "size",
        "source",
        "version",
    ]
    assert make_lock().dumps() == text
    assert Lockfile.loads(text).dumps() == text


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    lock = make_lock()
    path = tmp_path / "image.lock.json"
    lock.write(path)
    assert Lockfile.read(path) == lock
    assert path.read_text() == lock.dumps()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.lock.json"]  # no temp left


def test_write_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "image.lock.json"
    target.mkdir()  # replacing a directory with a file fails
    with pytest.raises(StoreError, match="cannot write"):
        make_lock().write(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.lock.json"]
    assert target.is_dir()


def test_a_lock_file_gets_the_mode_of_a_plainly_created_file(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        make_lock().write(tmp_path / "image.lock.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "image.lock.json").stat().st_mode) == 0o644


def test_spec_digest_depends_on_every_input() -> None:
    base = INPUTS.digest()
    assert base.startswith("sha256:") and len(base) == 71
    changed = [
        SpecInputs(
            "debian12", INPUTS.packages, INPUTS.exclude, True, INPUTS.archs, INPUTS.repositories
        ),
        SpecInputs("debian13", ("libc6",), INPUTS.exclude, True, INPUTS.archs, INPUTS.repositories),
        SpecInputs(
            "debian13", ("zlib1g", "libc6"), INPUTS.exclude, True, INPUTS.archs, INPUTS.repositories
        ),
        SpecInputs("debian13", INPUTS.packages, (), True, INPUTS.archs, INPUTS.repositories),
        SpecInputs(
            "debian13", INPUTS.packages, INPUTS.exclude, False, INPUTS.archs, INPUTS.repositories
        ),
        SpecInputs(
            "debian13", INPUTS.packages, INPUTS.exclude, True, ("amd64",), INPUTS.repositories
        ),
        SpecInputs("debian13", INPUTS.packages, INPUTS.exclude, True, INPUTS.archs, ()),
    ]
    digests = {s.digest() for s in changed}
    assert base not in digests
    assert len(digests) == len(changed)
    # Sets stay sets: order and repetition of exclude and archs do not matter.
    same = SpecInputs(
        "debian13",
        INPUTS.packages,
        ("libgcc-s1", "libgcc-s1"),
        True,
        ("arm64", "amd64"),
        INPUTS.repositories,
    )
    assert same.digest() == base


def test_check_lock_matches() -> None:
    lock = make_lock()
    check_lock_matches(lock, INPUTS)
    stale = SpecInputs("debian13", ("libc6",), archs=("amd64", "arm64"))
    with pytest.raises(LockfileError) as info:
        check_lock_matches(lock, stale)
    assert str(info.value) == (
        "image.lock.json no longer matches image.yaml; run `distroless lock image.yaml` again"
    )
    with pytest.raises(LockfileError) as info:
        check_lock_matches(lock, stale, lock_name="base.lock.json", spec_name="specs/base.yaml")
    assert str(info.value) == (
        "base.lock.json no longer matches specs/base.yaml; "
        "run `distroless lock specs/base.yaml` again"
    )


def test_packages_of_an_arch() -> None:
    lock = make_lock()
    assert lock.packages("arm64") == lock.archs["arm64"]
    with pytest.raises(LockfileError, match="image.lock.json has no packages for riscv64"):
        lock.packages("riscv64")


def test_hand_edited_lock_missing_an_arch_is_stale() -> None:
    lock = make_lock()
    edited = Lockfile(lock.distro, lock.suites, {"amd64": lock.archs["amd64"]}, lock.spec_digest)
    with pytest.raises(LockfileError, match="no longer matches"):
        check_lock_matches(edited, INPUTS)


def test_suite_dates_are_utc() -> None:
    local = datetime(2025, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert LockedSuite.at("s", "u", HEX_A, local).date == "2025-01-01T00:00:00Z"
    naive = datetime(2025, 1, 1, 2, 0)
    assert LockedSuite.at("s", "u", HEX_A, naive).date == "2025-01-01T02:00:00Z"


def _mutated(change: Any) -> str:
    data = json.loads(make_lock().dumps())
    change(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(version=2), "unsupported lockfile version 2"),
        (lambda d: d.pop("version"), "unsupported lockfile version None"),
        (lambda d: d.update(suites={}), "suites must be a JSON array"),
        (
            lambda d: d["suites"][1].update(inrelease_sha256="xyz"),
            "suites[1].inrelease_sha256 must be 64",
        ),
        (lambda d: d["suites"][0].pop("url"), "suites[0].url must be a non-empty string"),
        (lambda d: d.update(archs=[]), "archs must be a JSON object"),
        (lambda d: d["archs"].update(amd64={}), "archs.amd64 must be a JSON array"),
        (
            lambda d: d["archs"]["amd64"][1].update(size="12"),
            "archs.amd64[1].size must be a non-negative",
        ),
        (
            lambda d: d["archs"]["amd64"][1].update(size=True),
            "archs.amd64[1].size must be a non-negative",
        ),
        (
            lambda d: d["archs"]["arm64"][0].update(sha256=HEX_A.upper()),
            "archs.arm64[0].sha256 must be 64",
        ),
        (
            lambda d: d["archs"]["arm64"][0].update(name=""),
            "archs.arm64[0].name must be a non-empty",
        ),
        (
            lambda d: d["archs"]["arm64"].__setitem__(0, "libc6"),
            "archs.arm64[0] must be a JSON object",
        ),
        (lambda d: d.update(spec_digest="abc"), "spec_digest must be a 'sha256:<hex>' string"),
        (lambda d: d.update(distro=3), "distro must be a non-empty string"),
    ],
)
def test_invalid_locks_name_the_key(change: Any, message: str) -> None:
    with pytest.raises(LockfileError) as info:
        Lockfile.loads(_mutated(change), "x/image.lock.json")
    assert str(info.value).startswith("x/image.lock.json: ")
    assert message in str(info.value)


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(LockfileError, match=r"image.lock.json:3: not valid JSON"):
        Lockfile.loads('{\n"version": 1,\n oops}')
    with pytest.raises(LockfileError, match="the top level must be a JSON object"):
        Lockfile.loads("[]")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "image.lock.json"
    with pytest.raises(LockfileError, match="does not exist; run `distroless lock`"):
        Lockfile.read(missing)
    missing.write_bytes(b"\xff\xfe")
    with pytest.raises(LockfileError, match="cannot read"):
        Lockfile.read(missing)


def test_base_unsatisfied_and_sections_round_trip() -> None:
    from dataclasses import replace

    from distroless.debian.resolver import Unsatisfied

    plain = make_lock()
    lock = replace(
        plain,
        unsatisfied={"amd64": (Unsatisfied("python3-minimal", "dpkg (>= 1.13.20)"),)},
        base={"amd64": "sha256:" + HEX_A},
        sections={"python": {"amd64": {"python": "3.13", "wheels": []}}},
    )
    text = lock.dumps()
    data = json.loads(text)
    assert data["unsatisfied"] == {
        "amd64": [{"package": "python3-minimal", "relation": "dpkg (>= 1.13.20)"}]
    }
    assert data["base"] == {"amd64": "sha256:" + HEX_A}
    assert data["python"]["amd64"]["python"] == "3.13"
    again = Lockfile.loads(text)
    assert again == lock and again.dumps() == text
    # a lock without them is written exactly as before
    assert "unsatisfied" not in plain.dumps() and "base" not in json.loads(plain.dumps())


def test_new_inputs_change_the_digest_only_when_used() -> None:
    from dataclasses import replace

    assert replace(INPUTS, extra=(("base", None), ("python", None))).digest() == INPUTS.digest()
    assert replace(INPUTS, extra=(("base", "distroless/python3"),)).digest() != INPUTS.digest()
