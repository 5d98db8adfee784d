"""Lookup tables beside cached Packages files, and the index that reads through them."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distroless.debian import indexcache
from distroless.debian.archive import DebianArchive
from distroless.debian.deb822 import Paragraph, iter_paragraphs
from distroless.debian.indexcache import (
    LazyPackageIndex,
    LookupTable,
    load_table,
    read_table,
    scan,
    sidecar_path,
    write_table,
)
from distroless.debian.keyring import load_keyring
from distroless.debian.relations import Relation, parse_relations
from distroless.debian.resolver import PackageIndex, provided_names, resolve
from distroless.debian.sources import SuiteSource
from distroless.errors import DebianError, IntegrityError
from tests.debian.archive_fakes import build_deb, make_archive, serve

ARCH = "amd64"


def write_packages(directory: Path, text: str) -> tuple[Path, str, str]:
    """A cached 'index' file named by a hash, as the archive lays them out."""
    data = text.encode("utf-8")
    key = hashlib.sha256(data).hexdigest()
    path = directory / key
    directory.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, key, f"suite-{key[:6]}/Packages"


def full_index(files: list[tuple[Path, str, str]], arch: str = ARCH) -> PackageIndex:
    def paragraphs(path: Path, source: str) -> list[Paragraph]:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return list(iter_paragraphs(fh, source))

    return PackageIndex.from_paragraphs(arch, *(paragraphs(p, s) for p, _, s in files))


def assert_same(lazy: PackageIndex, full: PackageIndex, virtuals: set[str]) -> None:
    assert isinstance(lazy, LazyPackageIndex)
    assert lazy.names() == full.names()
    assert len(lazy) == len(full)
    for name in full.names():
        assert name in lazy
        got = lazy._paragraphs_of(name)
        want = full._paragraphs_of(name)
        assert got == want
        assert [(p.line, p.source) for p in got] == [(p.line, p.source) for p in want]
        assert lazy.candidates(name) == full.candidates(name)
    assert "no-such-package" not in lazy
    assert lazy.candidates("no-such-package") == []
    for virtual in virtuals:
        assert sorted(lazy._provider_names(virtual)) == sorted(full._provider_names(virtual))


def outcome(index: PackageIndex, request: str, mode: bool) -> object:
    try:
        return [str(p) for p in resolve(index, [request], resolve=mode)]
    except DebianError as exc:
        return f"error: {exc.message}"


def random_suites(seed: int) -> list[str]:
    """Three Packages texts with shared names, versions, virtual names and dependencies."""
    rng = random.Random(seed)
    names = [f"pkg{i}" for i in range(60)]
    virtuals = [f"virt{i}" for i in range(8)]
    texts = []
    for suite in range(3):
        paragraphs = []
        for name in rng.sample(names, 45 if suite == 0 else 12):
            for _ in range(rng.choice((1, 1, 2))):
                arch = rng.choice((ARCH, ARCH, "all", "arm64"))
                version = f"{rng.randint(1, 3)}.{rng.randint(0, 2)}-{suite + 1}"
                lines = [
                    f"Package: {name}",
                    f"Version: {version}",
                    f"Architecture: {arch}",
                ]
                deps = [
                    " | ".join(rng.sample(names + virtuals, rng.randint(1, 2)))
                    for _ in range(rng.randint(0, 3))
                ]
                if deps:
                    lines.append("Depends: " + ", ".join(deps))
                if rng.random() < 0.3:
                    provided = rng.sample(virtuals, rng.randint(1, 3))
                    # sometimes folded over continuation lines, sometimes versioned
                    lines.append("Provides: " + ",\n ".join(f"{v} (= {version})" for v in provided))
                lines += [
                    f"Filename: pool/{name}_{version}_{arch}.deb",
                    "Size: 10",
                    f"SHA256: {hashlib.sha256(f'{name}{version}{arch}'.encode()).hexdigest()}",
                    "Description: paquet d’essai — ünïcode",
                    " a continuation line",
                    " .",
                ]
                paragraphs.append("\n".join(lines) + "\n")
        texts.append("\n".join(paragraphs))
    return texts


@pytest.mark.parametrize("seed", range(6))
def test_lazy_index_resolves_like_the_full_one(tmp_path: Path, seed: int) -> None:
    files = [write_packages(tmp_path / "indices", text) for text in random_suites(seed)]
    lazy = LazyPackageIndex.from_files(ARCH, files)
    full = full_index(files)
    virtuals = {
        v
        for path, _, _ in files
        for p in iter_paragraphs(path.read_text().splitlines())
        for v in provided_names(p.get("Provides", ""))
    }
    assert_same(lazy, full, virtuals)
    requests = [f"pkg{i}" for i in range(60)] + sorted(virtuals) + ["pkg1 | pkg2", "pkg3 (>= 2)"]
    for request in requests:
        for mode in (True, False):
            assert outcome(lazy, request, mode) == outcome(full, request, mode)
    # a second open reads the tables written by the first
    again = LazyPackageIndex.from_files(ARCH, files)
    assert_same(again, full, virtuals)


AWKWARD = (
    "\n \n"  # leading blank lines, one of them only a space
    "package: first\nVersion: 1\narchitecture: amd64\nPROVIDES: v1,\n\tv2 (= 3)\n"
    "Description: x\n y\n"
    "\t\n"  # a separator made of a tab
    "Package: second\nVersion: 2\nArchitecture: all\n"
    "\n\n\n"
    "Package: other-arch\nVersion: 1\nArchitecture: arm64\nProvides: v1\n"
    "\n"
    "Package: first\nVersion: 2\nArchitecture: amd64\nDescription: no final newline"
)


def test_awkward_layout_is_found_exactly(tmp_path: Path) -> None:
    files = [write_packages(tmp_path, AWKWARD)]
    lazy = LazyPackageIndex.from_files(ARCH, files)
    full = full_index(files)
    assert_same(lazy, full, {"v1", "v2", "v3"})
    assert lazy.names() == ["first", "second"]
    assert [str(p.version) for p in lazy.candidates("first")] == ["2", "1"]
    assert [p.line for p in lazy._paragraphs_of("first")] == [3, 22]
    assert [p.name for p in lazy.providers(resolve_relation("v2"))] == ["first"]
    assert LazyPackageIndex.from_files("arm64", files).names() == ["other-arch", "second"]


def resolve_relation(text: str) -> Relation:
    return parse_relations(text, "test")[0].alternatives[0]


def test_table_is_written_once_and_then_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, key, source = write_packages(tmp_path, random_suites(1)[0])
    load_table(path, key, source)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, f"{path.name}.idx"])

    def no_scan(*args: object) -> LookupTable:
        raise AssertionError("the table should have been read, not rebuilt")

    monkeypatch.setattr(indexcache, "scan", no_scan)
    table = load_table(path, key, source)
    assert table.records("pkg0") or table.records("pkg1")


def damaged(path: Path, key: str) -> list[tuple[str, bytes]]:
    data = sidecar_path(path).read_bytes()
    header = indexcache._HEADER.size
    flipped = bytearray(data)
    flipped[-5] ^= 0x40
    other = hashlib.sha256(b"another index").hexdigest().encode()
    return [
        ("empty", b""),
        ("truncated header", data[:20]),
        ("truncated payload", data[: header + (len(data) - header) // 2]),
        ("flipped byte", bytes(flipped)),
        ("extra bytes", data + b"\0\0\0\0"),
        ("another index's key", data[:8] + other + data[72:]),
        ("bad magic", b"XXXXXXXX" + data[8:]),
    ]


def test_damaged_table_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    files = [write_packages(tmp_path, random_suites(2)[0])]
    path, key, source = files[0]
    good = load_table(path, key, source)
    want = sidecar_path(path).read_bytes()
    for what, content in damaged(path, key):
        sidecar_path(path).write_bytes(content)
        assert read_table(path, key) is None, what
        lazy = LazyPackageIndex.from_files(ARCH, files)
        assert lazy.names() == full_index(files).names(), what
        assert sidecar_path(path).read_bytes() == want, what
    assert read_table(path, key) == good


def test_table_of_a_grown_index_is_rebuilt(tmp_path: Path) -> None:
    path, key, source = write_packages(tmp_path, "Package: a\nVersion: 1\nArchitecture: all\n")
    load_table(path, key, source)
    with path.open("a") as fh:
        fh.write("\nPackage: b\nVersion: 1\nArchitecture: all\n")
    assert read_table(path, key) is None
    assert LazyPackageIndex.from_files(ARCH, [(path, key, source)]).names() == ["a", "b"]


def test_table_that_does_not_match_its_index_is_rebuilt_on_first_read(tmp_path: Path) -> None:
    text = (
        "Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\nVersion: 1\nArchitecture: all\n"
    )
    path, key, source = write_packages(tmp_path, text)
    # whole, checksummed tables of other content of the same size: one names other
    # packages, one puts the paragraphs at the wrong offsets
    others = [
        "Package: y\nVersion: 1\nArchitecture: all\n\nPackage: z\nVersion: 1\nArchitecture: all\n",
        "\nPackage: a\nVersion: 1\nArchitecture: all\n\nPackage: b\nVersion: 1\nArchitecture:all\n",
    ]
    for number, other_text in enumerate(others):
        assert len(other_text) == len(text)
        other, _, _ = write_packages(tmp_path / str(number), other_text)
        write_table(path, key, scan(other))
        lazy = LazyPackageIndex.from_files(ARCH, [(path, key, source)])
        wrong = lazy.names()
        assert [str(p) for p in lazy.candidates(wrong[0])] == (
            ["a 1 (all)"] if wrong[0] == "a" else []
        )
        assert lazy.names() == ["a", "b"]
        assert [p.where() for p in lazy._paragraphs_of("b")] == [f"{source}:5"]
        assert read_table(path, key) == scan(path)


def test_bad_paragraph_is_an_error_not_a_table_problem(tmp_path: Path) -> None:
    path, key, source = write_packages(tmp_path, "Package: a\nVersion: 1\nArchitecture: all\nbad\n")
    lazy = LazyPackageIndex.from_files(ARCH, [(path, key, source)])
    with pytest.raises(DebianError, match=rf"^{source}:4: expected 'Field: value'"):
        lazy.candidates("a")
    assert read_table(path, key) is not None


def test_package_name_the_scan_cannot_see_is_an_integrity_error(tmp_path: Path) -> None:
    path, key, source = write_packages(tmp_path, "Package: a\n b\nVersion: 1\nArchitecture: all\n")
    lazy = LazyPackageIndex.from_files(ARCH, [(path, key, source)])
    with pytest.raises(IntegrityError, match=rf"^{source}:1: expected package a here"):
        lazy.candidates("a")


def test_carriage_returns_fall_back_to_a_full_parse(tmp_path: Path) -> None:
    files = [write_packages(tmp_path, "Package: a\r\nVersion: 1\r\nArchitecture: all\r\n")]
    index = LazyPackageIndex.from_files(ARCH, files)
    assert type(index) is PackageIndex
    assert index.names() == ["a"]
    assert not sidecar_path(files[0][0]).exists()


def test_paragraph_without_package_names_file_and_line(tmp_path: Path) -> None:
    path, key, source = write_packages(
        tmp_path, "Package: a\nVersion: 1\nArchitecture: all\n\nVersion: 2\nArchitecture: all\n"
    )
    with pytest.raises(DebianError, match=rf"{source}:5: paragraph without a Package field"):
        LazyPackageIndex.from_files(ARCH, [(path, key, source)])
    assert not sidecar_path(path).exists()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_malformed_paragraph_is_reported_when_read(tmp_path: Path) -> None:
    text = (
        "Package: b\nVersion: 1\nArchitecture: all\n\nPackage: a\nbroken line\nArchitecture: all\n"
    )
    path, key, source = write_packages(tmp_path, text)
    lazy = LazyPackageIndex.from_files(ARCH, [(path, key, source)])
    assert lazy.candidates("b")  # the rest of the file is not affected
    with pytest.raises(
        DebianError, match=rf"^{source}:6: expected 'Field: value', got 'broken line'$"
    ):
        lazy.candidates("a")


def test_index_removed_under_the_table_is_a_clear_error(tmp_path: Path) -> None:
    path, key, source = write_packages(tmp_path, "Package: a\nVersion: 1\nArchitecture: all\n")
    lazy = LazyPackageIndex.from_files(ARCH, [(path, key, source)])
    path.unlink()
    with pytest.raises(DebianError, match=f"^{source}: cannot read the cached index"):
        lazy.candidates("a")


def test_empty_index(tmp_path: Path) -> None:
    files = [write_packages(tmp_path, "")]
    lazy = LazyPackageIndex.from_files(ARCH, files)
    assert lazy.names() == []
    assert lazy.candidates("a") == []
    assert read_table(*files[0][:2]) is not None


def test_added_paragraphs_come_after_the_files(tmp_path: Path) -> None:
    files = [write_packages(tmp_path, "Package: a\nVersion: 1\nArchitecture: all\n")]
    lazy = LazyPackageIndex.from_files(ARCH, files)
    assert lazy.names() == ["a"]
    lazy.add(Paragraph({"Package": "a", "Version": "2", "Architecture": ARCH}))
    lazy.add(Paragraph({"Package": "b", "Version": "1", "Architecture": ARCH, "Provides": "v"}))
    assert lazy.names() == ["a", "b"]
    assert [str(p.version) for p in lazy.candidates("a")] == ["2", "1"]
    assert list(lazy._provider_names("v")) == ["b"]


def test_through_a_verified_archive(tmp_path: Path) -> None:
    fake = make_archive(tmp_path / "mirror", tmp_path)
    for name in ("alpha", "beta"):
        fake.debs[name] = build_deb(
            tmp_path / f"mirror/pool/main/{name[0]}/{name}/{name}_1.0_amd64.deb",
            name,
            {"./etc/": None, f"./etc/{name}": name.encode()},
        )
    fake.publish("trixie")
    fake.publish("trixie-updates")
    now = datetime(2025, 11, 2, tzinfo=UTC)
    with (
        serve(fake.root) as mirror,
        DebianArchive(tmp_path / "cache", keyring=load_keyring([fake.keyfile]), now=now) as archive,
    ):
        sources = [SuiteSource(mirror.url, s) for s in ("trixie", "trixie-updates")]
        indices = archive.indices(sources, ARCH)
        lazy = LazyPackageIndex.open(ARCH, indices)
        full = PackageIndex.from_paragraphs(ARCH, *(i.paragraphs() for i in indices))
    assert_same(lazy, full, set())
    assert [p.where() for p in lazy._paragraphs_of("beta")] == [
        f"{mirror.url}/dists/trixie/main/binary-amd64/Packages:10",
        f"{mirror.url}/dists/trixie-updates/main/binary-amd64/Packages:10",
    ]
    for index in indices:
        assert sidecar_path(index.path).is_file()


_FIELD_LINES = st.sampled_from(
    [
        "Depends: pkg{m} | v{n}",
        "Description: text\n more text\n .\n Package: not-a-field",
        "X-Field-{n}: value",
    ]
)
_BLANKS = st.sampled_from(["\n\n", "\n\n\n", "\n \n", "\n\t\n\n", "\n  \t \n"])


@st.composite
def packages_texts(draw: st.DrawFn) -> str:
    lead = draw(st.sampled_from(["", "\n", " \n\n"]))
    paragraphs = []
    for _ in range(draw(st.integers(0, 6))):
        n = draw(st.integers(0, 3))
        m = draw(st.integers(0, 3))
        name = f"pkg{draw(st.integers(0, 4))}"
        others = draw(st.lists(_FIELD_LINES, max_size=4, unique=True))
        provides = draw(st.sampled_from(["Provides", "provides"]))
        lines = [line.format(n=n, m=m) for line in others]
        lines.append(f"Version: 1.{n}")
        provided = draw(st.sampled_from(["", "v{n}", "v{n} (= 1),\n v{m},\n\tw{n}"]))
        if provided:
            lines.append(f"{provides}: " + provided.format(n=n, m=m))
        lines = draw(st.permutations(lines))
        package = draw(st.sampled_from(["Package", "package", "PACKAGE"]))
        lines.insert(draw(st.integers(0, len(lines))), f"{package}: {name}")
        arch = draw(st.sampled_from(["amd64", "all", "arm64"]))
        field = draw(st.sampled_from(["Architecture", "architecture"]))
        lines.insert(draw(st.integers(0, len(lines))), f"{field}: {arch}")
        paragraphs.append("\n".join(lines))
    separators = [draw(_BLANKS) for _ in paragraphs]
    text = lead + "".join(p + s for p, s in zip(paragraphs, separators, strict=True))
    return text if draw(st.booleans()) else text.rstrip("\n")


@given(text=packages_texts())
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_scan_agrees_with_the_parser_on_generated_files(tmp_path: Path, text: str) -> None:
    directory = tmp_path / hashlib.sha256(text.encode()).hexdigest()[:12]
    files = [write_packages(directory, text)]
    try:
        full = full_index(files)
        for name in full.names():
            full.candidates(name)
    except DebianError:
        raise AssertionError("generated files are meant to be valid") from None
    lazy = LazyPackageIndex.from_files(ARCH, files)
    virtuals = {f"{p}{n}" for p in "vw" for n in range(4)}
    assert_same(lazy, full, virtuals)
