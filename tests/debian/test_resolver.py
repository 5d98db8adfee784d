"""The package index and the resolver, over small hand-written Packages data."""

from __future__ import annotations

import hashlib
import io
import itertools
from pathlib import Path

import pytest

from distroless.debian.deb822 import Paragraph, dump, iter_paragraphs, parse_paragraph
from distroless.debian.resolver import (
    Package,
    PackageIndex,
    check_conflicts,
    install_order,
    resolve,
)
from distroless.debian.version import Version
from distroless.errors import DebianError


def para(name: str, version: str = "1.0", arch: str = "amd64", **fields: str) -> Paragraph:
    digest = hashlib.sha256(f"{name}_{version}_{arch}".encode()).hexdigest()
    pairs = [
        ("Package", name),
        ("Version", version),
        ("Architecture", arch),
        *((key.replace("_", "-"), value) for key, value in fields.items()),
    ]
    defaults = {
        "Filename": f"pool/main/{name[0]}/{name}/{name}_{version}_{arch}.deb",
        "Size": "100",
        "SHA256": digest,
    }
    pairs += [(key, value) for key, value in defaults.items() if key not in dict(pairs)]
    return Paragraph(pairs)


def index(*paragraphs: Paragraph, arch: str = "amd64") -> PackageIndex:
    return PackageIndex.from_paragraphs(arch, paragraphs)


def names(packages: list[Package]) -> list[str]:
    return [p.name for p in packages]


def before(order: list[str], first: str, then: str) -> bool:
    return order.index(first) < order.index(then)


PYTHON = [
    para("libc6", "2.41-12", Depends="libgcc-s1"),
    para("libgcc-s1", "14.2.0-19", Depends="gcc-14-base (= 14.2.0-19), libc6 (>= 2.35)"),
    para("gcc-14-base", "14.2.0-19", Multi_Arch="same"),
    para("libssl3t64", "3.5.1-1", Depends="libc6 (>= 2.38), libzstd1 (>= 1.5.5)"),
    para("libzstd1", "1.5.7+dfsg-1", Depends="libc6 (>= 2.34)"),
    para("zlib1g", "1:1.3.dfsg+really1.3.1-1+b1", Depends="libc6 (>= 2.14)"),
    para(
        "libpython3.13-minimal",
        "3.13.5-2",
        Depends="libc6 (>= 2.38), libssl3t64 (>= 3.0.0)",
    ),
    para(
        "python3.13-minimal",
        "3.13.5-2",
        Pre_Depends="libc6 (>= 2.38)",
        Depends="libpython3.13-minimal (= 3.13.5-2), zlib1g (>= 1:1.2.0)",
    ),
]


def test_closure_in_install_order() -> None:
    result = resolve(index(*PYTHON), ["python3.13-minimal"])
    order = names(result)
    assert sorted(order) == sorted(p["Package"] for p in PYTHON)
    for package in result:
        for dependency in (*package.pre_depends, *package.depends):
            target = dependency.alternatives[0].name
            if target in ("libc6", "libgcc-s1") and package.name in ("libc6", "libgcc-s1"):
                continue  # the libc6 <-> libgcc-s1 cycle
            assert before(order, target, package.name), (target, package.name)
    assert order[-1] == "python3.13-minimal"
    assert resolve(index(*PYTHON), ["python3.13-minimal"]) == result  # deterministic


def test_cycle_is_broken_deterministically() -> None:
    first = names(resolve(index(*PYTHON), ["libc6"]))
    assert first == ["gcc-14-base", "libgcc-s1", "libc6"]
    # Reached from libgcc-s1 the same cycle is cut at the other edge.
    assert names(resolve(index(*PYTHON), ["libgcc-s1"])) == ["gcc-14-base", "libc6", "libgcc-s1"]


def test_pre_depends_come_first() -> None:
    idx = index(
        para("app", Depends="libb", Pre_Depends="liba"),
        para("liba"),
        para("libb"),
    )
    assert names(resolve(idx, ["app"])) == ["liba", "libb", "app"]


def test_unsatisfiable_names_the_chain() -> None:
    data = [p for p in PYTHON if p["Package"] != "libssl3t64"]
    data.append(para("libssl3t64", "1.1", Depends="libc6"))
    data[data.index(next(p for p in data if p["Package"] == "libpython3.13-minimal"))] = para(
        "libpython3.13-minimal", "3.13.5-2", Depends="libc6, libssl3t64 (>= 3.0)"
    )
    with pytest.raises(DebianError) as info:
        resolve(index(*data), ["python3.13-minimal"])
    message = str(info.value)
    assert message.startswith(
        "python3.13-minimal -> libpython3.13-minimal -> libssl3t64 (>= 3.0): no candidate"
    )
    assert "libssl3t64 has only 1.1" in message


def test_missing_request_is_an_error() -> None:
    with pytest.raises(DebianError, match=r"^nothere: no candidate for amd64$"):
        resolve(index(*PYTHON), ["nothere"])


def test_highest_version_and_later_suites() -> None:
    main = [para("libc6", "2.36-9+deb12u4"), para("tzdata", "2024a-0+deb12u1", arch="all")]
    security = [para("libc6", "2.36-9+deb12u10"), para("tzdata", "2023c-8", arch="all")]
    idx = PackageIndex.from_paragraphs("amd64", main, security)
    chosen = {p.name: p for p in resolve(idx, ["libc6", "tzdata"])}
    assert str(chosen["libc6"].version) == "2.36-9+deb12u10"  # the higher, from security
    assert str(chosen["tzdata"].version) == "2024a-0+deb12u1"  # a lower one never overrides
    assert [str(p.version) for p in idx.candidates("libc6")] == [
        "2.36-9+deb12u10",
        "2.36-9+deb12u4",
    ]


def test_same_version_twice_keeps_the_first() -> None:
    first = para("a", "1.0", Filename="pool/first.deb")
    second = para("a", "1.0", Filename="pool/second.deb")
    idx = PackageIndex.from_paragraphs("amd64", [first], [second])
    assert [p.filename for p in idx.candidates("a")] == ["pool/first.deb"]


def test_version_constraints_pick_the_highest_fitting() -> None:
    idx = index(
        para("app", Depends="lib (<< 2.0)"),
        para("lib", "1.5"),
        para("lib", "2.1"),
        para("lib", "1.9"),
    )
    chosen = {p.name: p for p in resolve(idx, ["app"])}
    assert chosen["lib"].version == Version.parse("1.9")
    pinned = resolve(idx, ["lib (= 1.5)"])
    assert [str(p.version) for p in pinned] == ["1.5"]
    assert resolve(idx, ["lib=1.5"]) == pinned
    assert resolve(idx, ["lib = 1.5"], resolve=False) == pinned
    with pytest.raises(DebianError, match="invalid version '1.5=2'"):
        resolve(idx, ["lib=1.5=2"])


def test_already_chosen_version_that_does_not_fit() -> None:
    idx = index(
        para("one", Depends="lib"),
        para("two", Depends="lib (<< 2)"),
        para("lib", "1"),
        para("lib", "2"),
    )
    with pytest.raises(DebianError, match=r"two -> lib \(<< 2\): no candidate \(lib 2 is already"):
        resolve(idx, ["one", "two"])


def test_first_satisfiable_alternative() -> None:
    idx = index(
        para("app", Depends="missing | libb (>= 2) | libc, libd"),
        para("libb", "1.0"),
        para("libc"),
        para("libd"),
    )
    assert names(resolve(idx, ["app"])) == ["libc", "libd", "app"]


def test_alternative_already_chosen_wins() -> None:
    idx = index(
        para("app", Depends="libd, liba | libb"),
        para("libd", Depends="libb"),
        para("liba"),
        para("libb"),
    )
    # libd is taken first and pulls in libb, which then satisfies "liba | libb".
    assert names(resolve(idx, ["app"])) == ["libb", "libd", "app"]


def test_real_package_preferred_over_providers() -> None:
    idx = index(
        para("app", Depends="awk"),
        para("awk", "1"),
        para("gawk", Provides="awk"),
        para("mawk", Provides="awk"),
    )
    assert names(resolve(idx, ["app"])) == ["awk", "app"]


def test_providers_chosen_by_name_or_already_chosen() -> None:
    data = [
        para("app", Depends="mail-transport-agent"),
        para("postfix", Provides="mail-transport-agent"),
        para("exim4", Provides="mail-transport-agent"),
    ]
    assert names(resolve(index(*data), ["app"])) == ["exim4", "app"]
    assert names(resolve(index(*data), ["postfix", "app"])) == ["postfix", "app"]


def test_versioned_provides() -> None:
    idx = index(
        para("app", Depends="libssl3 (>= 3.0)"),
        para("old", Provides="libssl3"),  # unversioned: cannot satisfy a versioned need
        para("libssl3t64", "3.5.1-1", Provides="libssl3 (= 3.5.1-1)"),
    )
    assert names(resolve(idx, ["app"])) == ["libssl3t64", "app"]
    assert names(resolve(idx, ["libssl3"])) == ["libssl3t64"]


def test_exclude_cuts_edges_on_purpose() -> None:
    idx = index(
        para("libc6", Depends="libgcc-s1"),
        para("libgcc-s1", Depends="libc6"),
        para("app", Depends="libc6, helper | libgcc-s1, fallback | other"),
        para("fallback"),
    )
    result = names(resolve(idx, ["app"], exclude=["libgcc-s1", "fallback"]))
    assert result == ["libc6", "app"]  # helper is missing, but libgcc-s1 was excluded


def test_exclude_moves_to_the_next_alternative() -> None:
    idx = index(para("app", Depends="a | b"), para("a"), para("b"))
    assert names(resolve(idx, ["app"], exclude=["a"])) == ["b", "app"]


def test_excluded_providers() -> None:
    idx = index(
        para("app", Depends="virtual"),
        para("p1", Provides="virtual"),
        para("p2", Provides="virtual"),
    )
    assert names(resolve(idx, ["app"], exclude=["p1"])) == ["p2", "app"]
    assert names(resolve(idx, ["app"], exclude=["p1", "p2"])) == ["app"]


def test_requested_and_excluded() -> None:
    with pytest.raises(DebianError, match="package libc6 is both requested and excluded"):
        resolve(index(*PYTHON), ["libc6"], exclude=["libc6"])


def test_conflicts_between_chosen_packages() -> None:
    idx = index(
        para("app", Depends="a, b"),
        para("a", Conflicts="b (<< 2)"),
        para("b", "1"),
    )
    with pytest.raises(DebianError) as info:
        resolve(idx, ["app"])
    assert str(info.value) == "a 1.0 conflicts with b 1 (b (<< 2)); both were chosen"


def test_breaks_between_chosen_packages() -> None:
    idx = index(para("a", Breaks="b"), para("b"))
    with pytest.raises(DebianError, match=r"a 1\.0 breaks b 1\.0"):
        resolve(idx, ["a", "b"])


def test_conflicts_through_provides_but_not_with_itself() -> None:
    mta = [
        para("postfix", Provides="mail-transport-agent", Conflicts="mail-transport-agent"),
        para("exim4", Provides="mail-transport-agent", Conflicts="mail-transport-agent"),
    ]
    assert names(resolve(index(*mta), ["postfix"])) == ["postfix"]
    with pytest.raises(DebianError, match=r"exim4 1\.0 conflicts with postfix 1\.0"):
        resolve(index(*mta), ["postfix", "exim4"])


def test_check_conflicts_directly() -> None:
    a = Package.from_paragraph(para("a", Conflicts="b"))
    b = Package.from_paragraph(para("b", "2"))
    check_conflicts([a], "amd64")
    with pytest.raises(DebianError, match=r"a 1\.0 conflicts with b 2"):
        check_conflicts([a, b], "amd64")


def test_exact_mode_takes_the_list_as_given() -> None:
    idx = index(*PYTHON)
    result = resolve(idx, ["zlib1g", "libc6"], resolve=False)
    # No dependency is added (libc6 really depends on libgcc-s1), but the order still
    # puts libc6 before zlib1g, which depends on it.
    assert names(result) == ["libc6", "zlib1g"]
    assert str(result[1].version) == "1:1.3.dfsg+really1.3.1-1+b1"


def test_exact_mode_errors() -> None:
    idx = index(*PYTHON, para("lib", "1.0"))
    with pytest.raises(DebianError, match="package nothere is not in the package index for amd64"):
        resolve(idx, ["libc6", "nothere"], resolve=False)
    with pytest.raises(DebianError, match=r"no version of lib for amd64 satisfies lib \(>= 2\)"):
        resolve(idx, ["lib (>= 2)"], resolve=False)
    idx = index(para("p", Provides="virtual"))
    with pytest.raises(DebianError, match="package virtual is not in the package index"):
        resolve(idx, ["virtual"], resolve=False)


def test_exact_mode_does_not_check_conflicts() -> None:
    idx = index(para("a", Conflicts="b"), para("b"))
    assert names(resolve(idx, ["a", "b"], resolve=False)) == ["a", "b"]


def test_architectures() -> None:
    data = [
        para("app", Depends="libarm [arm64], libx86 [amd64], tool:any, perl:native"),
        para("libarm", arch="arm64"),
        para("libx86"),
        para("tool", arch="all", Multi_Arch="foreign"),
        para("perl"),
        para("perl", "9.0", arch="arm64"),
    ]
    amd = {p.name: p for p in resolve(index(*data), ["app"])}
    assert sorted(amd) == ["app", "libx86", "perl", "tool"]
    assert amd["tool"].architecture == "all"
    assert amd["perl"].version == Version.parse("1.0")  # the arm64 build is not a candidate
    assert "libarm" not in index(*data)
    with pytest.raises(DebianError, match=r"app -> libarm:arm64: no candidate for amd64"):
        resolve(index(para("app", Depends="libarm:arm64"), para("libarm")), ["app"])


def test_request_order_decides_only_the_walk() -> None:
    requests = ["python3.13-minimal", "libssl3t64", "zlib1g"]
    seen = set()
    for permutation in itertools.permutations(requests):
        result = names(resolve(index(*PYTHON), list(permutation)))
        seen.add(frozenset(result))
        assert result.index("libc6") < result.index("zlib1g")
    assert len(seen) == 1


def test_paragraphs_parse_only_when_needed() -> None:
    text = (
        "Package: good\nVersion: 1.0\nArchitecture: amd64\n\n"
        "Package: broken\nVersion: not a version\nArchitecture: amd64\n"
    )
    idx = PackageIndex.from_paragraphs("amd64", iter_paragraphs(io.StringIO(text), "Packages"))
    assert names(resolve(idx, ["good"])) == ["good"]
    with pytest.raises(DebianError) as info:
        resolve(idx, ["broken"])
    assert str(info.value).startswith("package broken (Packages:5): invalid version")


def test_bad_provides_fails_when_its_package_is_needed() -> None:
    text = (
        "Package: p\nVersion: 1\nArchitecture: amd64\nProvides: a | b\n\n"
        "Package: q\nVersion: 1\nArchitecture: amd64\nProvides: c (= 1), d\n"
    )
    idx = PackageIndex.from_paragraphs("amd64", iter_paragraphs(io.StringIO(text), "Packages"))
    assert names(resolve(idx, ["c (>= 1)", "d"])) == ["q"]
    with pytest.raises(DebianError, match=r"package p \(Packages:1\): Provides entry 'a \| b'"):
        resolve(idx, ["a"])


def test_package_fields() -> None:
    p = Package.from_paragraph(
        para(
            "libc6",
            "2.36-9+deb12u4+b1",
            Source="glibc (2.36-9+deb12u4)",
            Essential="yes",
            Multi_Arch="Same",
            Priority="optional",
            Provides="libc6-x (= 1)",
            Breaks="old (<< 1)",
        )
    )
    assert p.source == "glibc"
    assert p.source_version == Version.parse("2.36-9+deb12u4")
    assert p.essential is True
    assert p.multi_arch == "same"
    assert p.priority == "optional"
    assert p.size == 100
    assert len(p.sha256) == 64
    assert p.filename.endswith("libc6_2.36-9+deb12u4+b1_amd64.deb")
    assert p.provided_version("libc6-x") == (True, Version.parse("1"))
    assert p.provided_version("other") == (False, None)
    assert p.fields["Package"] == "libc6"
    plain = Package.from_paragraph(para("zlib1g"))
    assert (plain.source, plain.source_version, plain.essential) == ("zlib1g", plain.version, False)
    assert plain.multi_arch == "no"


@pytest.mark.parametrize(
    ("paragraph", "message"),
    [
        (Paragraph([("Version", "1")]), "paragraph without a Package field"),
        (Paragraph([("Package", "x"), ("Version", "1")]), "package x: it has no Architecture"),
        (para("x", Size="many"), "package x: its Size 'many' is not a number"),
        (para("x", Source="src (1.0"), "its Source field 'src (1.0' is malformed"),
        (para("x", Depends="a (>>)"), "package x: invalid Depends entry 'a (>>)'"),
    ],
)
def test_package_errors(paragraph: Paragraph, message: str) -> None:
    with pytest.raises(DebianError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Package.from_paragraph(paragraph)


def test_install_order_with_no_roots_is_by_name() -> None:
    chosen = {p.name: p for p in (Package.from_paragraph(para(n)) for n in ("b", "a", "c"))}
    assert names(install_order(chosen, [], "amd64")) == ["a", "b", "c"]


def test_provider_choice_waits_for_plain_dependencies() -> None:
    idx = index(
        para("app", Depends="virtual, lib"),
        para("lib", Depends="zprovider"),
        para("aprovider", Provides="virtual"),
        para("zprovider", Provides="virtual"),
    )
    # "virtual" alone would pick aprovider, but lib brings zprovider in anyway.
    assert names(resolve(idx, ["app"])) == ["zprovider", "lib", "app"]
    assert names(resolve(idx, ["virtual"])) == ["aprovider"]


# The distroless python3 image's exact package list (Debian 13).
PYTHON3_IMAGE = [
    "base-files",
    "netbase",
    "tzdata",
    "tzdata-legacy",
    "media-types",
    "ca-certificates",
    "libc6",
    "libssl3t64",
    "libzstd1",
    "zlib1g",
    "libgomp1",
    "libstdc++6",
    "libgcc-s1",
    "gcc-14-base",
    "libbz2-1.0",
    "libdb5.3t64",
    "libexpat1",
    "liblzma5",
    "libsqlite3-0",
    "libuuid1",
    "libncursesw6",
    "libtinfo6",
    "libcom-err2",
    "libcrypt1",
    "libc-bin",
    "libgssapi-krb5-2",
    "libk5crypto3",
    "libkeyutils1",
    "libkrb5-3",
    "libkrb5support0",
    "libnsl2",
    "libreadline8t64",
    "libtirpc3t64",
    "libffi8",
    "libpython3.13-minimal",
    "libpython3.13-stdlib",
    "python3.13-minimal",
    "python3.13-venv",
]


@pytest.mark.integration
@pytest.mark.network
def test_real_packages_index(tmp_path: Path) -> None:
    """Parse a whole real Packages index and resolve real package lists against it."""
    from tests.helpers.require import unavailable

    try:
        from distroless.debian.archive import DebianArchive
        from distroless.debian.sources import discover_mirrors, distro, read_apt_sources
    except ImportError as exc:  # the archive side is not there yet
        pytest.skip(f"the Debian archive client is not available: {exc}")
    if not read_apt_sources(Path("/")):
        unavailable("this host has no apt sources naming a Debian archive")
    mirrors = discover_mirrors(env={})
    with DebianArchive(tmp_path) as archive:
        suite = archive.suite(mirrors.main, distro("debian13").codename)
        packages = archive.packages(suite, "amd64")
        paragraphs = list(packages.paragraphs())
    idx = PackageIndex.from_paragraphs("amd64", paragraphs)
    assert len(idx) > 50_000
    # Every entry parses (versions, every relation field) and dumps back byte-stably.
    for name in idx.names():
        assert idx.candidates(name)
    for paragraph in paragraphs[:2000]:
        assert parse_paragraph(dump(paragraph)) == paragraph

    exact = {p.name: p for p in resolve(idx, PYTHON3_IMAGE, resolve=False)}
    assert set(exact) == set(PYTHON3_IMAGE)
    order = names(resolve(idx, PYTHON3_IMAGE, resolve=False))
    assert before(order, "libc6", "python3.13-minimal")
    assert all(len(p.sha256) == 64 and p.filename.startswith("pool/") for p in exact.values())

    closure = names(resolve(idx, ["python3.13-minimal"]))
    assert {"libc6", "libpython3.13-minimal", "zlib1g"} <= set(closure)
    assert closure[-1] == "python3.13-minimal"
    base = names(resolve(idx, ["libc6"], exclude=["libgcc-s1"]))
    assert base == ["libc6"]
