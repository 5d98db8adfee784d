"""Relation fields: alternatives, constraints, qualifiers, architecture lists, profiles."""

from __future__ import annotations

import pytest

from distroless.debian.relations import (
    Constraint,
    Dependency,
    Relation,
    arch_matches,
    parse_provides,
    parse_relations,
)
from distroless.debian.version import Version
from distroless.errors import DebianError


def test_plain_list_with_alternatives_and_versions() -> None:
    deps = parse_relations("libc6 (>= 2.34), libssl3t64 (>= 3.0.0) | libssl3, zlib1g")
    assert deps == (
        Dependency((Relation("libc6", constraint=Constraint(">=", Version.parse("2.34"))),)),
        Dependency(
            (
                Relation("libssl3t64", constraint=Constraint(">=", Version.parse("3.0.0"))),
                Relation("libssl3"),
            )
        ),
        Dependency((Relation("zlib1g"),)),
    )


def test_folded_field_and_odd_spacing() -> None:
    (dep,) = parse_relations("python3.13-minimal(=3.13.5-2)\n ")
    relation = dep.alternatives[0]
    assert relation.name == "python3.13-minimal"
    assert relation.constraint == Constraint("=", Version.parse("3.13.5-2"))
    deps = parse_relations("a ,\n b(<<  2:1.0~rc1 ) |c")
    assert [str(d) for d in deps] == ["a", "b (<< 2:1.0~rc1) | c"]


@pytest.mark.parametrize("op", ["<<", "<=", "=", ">=", ">>"])
def test_every_operator(op: str) -> None:
    (dep,) = parse_relations(f"x ({op} 1.0)")
    constraint = dep.alternatives[0].constraint
    assert constraint is not None
    assert constraint.op == op


def test_legacy_operators_read_as_inclusive() -> None:
    (low,) = parse_relations("x (< 1.0)")
    (high,) = parse_relations("x (> 1.0)")
    assert low.alternatives[0].constraint == Constraint("<=", Version.parse("1.0"))
    assert high.alternatives[0].constraint == Constraint(">=", Version.parse("1.0"))


@pytest.mark.parametrize(
    ("op", "version", "expected"),
    [
        ("<<", "1.0", False),
        ("<<", "1.1", True),
        ("<=", "1.0", True),
        ("<=", "0.9", False),
        ("=", "1.00", True),
        ("=", "1.0-1", False),
        (">=", "1.0~rc1", True),
        (">=", "1.1", False),
        (">>", "0.9", True),
        (">>", "1.0", False),
    ],
)
def test_constraint_satisfaction(op: str, version: str, expected: bool) -> None:
    # "1.0 op version": is a package at 1.0 acceptable?
    assert Constraint(op, Version.parse(version)).satisfied_by(Version.parse("1.0")) is expected


def test_qualifiers_arch_lists_and_profiles() -> None:
    (dep,) = parse_relations(
        "python3:any (>= 3.11) [amd64 arm64] <!nocheck> <cross !pkg.foo.bar>", "Build-Depends"
    )
    relation = dep.alternatives[0]
    assert relation.name == "python3"
    assert relation.qualifier == "any"
    assert relation.arches == ("amd64", "arm64")
    assert relation.profiles == (("!nocheck",), ("cross", "!pkg.foo.bar"))
    assert str(relation) == "python3:any (>= 3.11) [amd64 arm64] <!nocheck> <cross !pkg.foo.bar>"
    (native,) = parse_relations("perl:native")
    assert native.alternatives[0].qualifier == "native"


@pytest.mark.parametrize(
    ("arches", "arch", "applies"),
    [
        ("[amd64 arm64]", "amd64", True),
        ("[amd64 arm64]", "riscv64", False),
        ("[!arm64]", "amd64", True),
        ("[!arm64 !armhf]", "arm64", False),
        ("[linux-any]", "arm64", True),
        ("[any-amd64]", "amd64", True),
        ("[any-amd64]", "arm64", False),
        ("[hurd-any]", "amd64", False),
    ],
)
def test_architecture_restrictions(arches: str, arch: str, applies: bool) -> None:
    (dep,) = parse_relations(f"x {arches}")
    assert dep.alternatives[0].applies_to(arch) is applies
    assert parse_relations("x")[0].alternatives[0].applies_to(arch)


def test_arch_matches() -> None:
    assert arch_matches("any", "s390x")
    assert arch_matches("amd64", "amd64")
    assert not arch_matches("i386", "amd64")
    assert arch_matches("linux-any", "amd64")
    assert arch_matches("any-any", "amd64")


def test_empty_elements_are_skipped() -> None:
    assert parse_relations("") == ()
    assert parse_relations("  \n ") == ()
    assert [str(d) for d in parse_relations("a, , b,")] == ["a", "b"]


def test_provides_with_versions() -> None:
    provided = parse_provides("libssl3 (= 3.0.13-1), mail-transport-agent")
    assert provided == (
        Relation("libssl3", constraint=Constraint("=", Version.parse("3.0.13-1"))),
        Relation("mail-transport-agent"),
    )


def test_version_ok() -> None:
    relation = parse_relations("x (>= 2)")[0].alternatives[0]
    assert relation.version_ok(Version.parse("2"))
    assert not relation.version_ok(Version.parse("1"))
    assert not relation.version_ok(None)  # an unversioned Provides never fits a constraint
    assert Relation("x").version_ok(None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a | | b", "empty alternative in Depends entry 'a | | b'"),
        ("a (>= )", "invalid Depends entry 'a (>= )'"),
        ("a (~ 1.0)", "invalid Depends entry 'a (~ 1.0)'"),
        ("a (>= 1.0", "invalid Depends entry 'a (>= 1.0'"),
        ("a (>= 1.0_1)", "invalid Depends entry 'a (>= 1.0_1)': invalid version '1.0_1'"),
        ("-bad", "invalid Depends entry '-bad'"),
        ("a b", "invalid Depends entry 'a b'"),
        ("a []", "invalid architecture list in Depends entry 'a []'"),
        ("a [amd64 !arm64]", "mixes negated and plain architectures"),
        ("a [AMD64]", "invalid architecture list"),
        ("a <>", "invalid build profile <>"),
        ("a:", "invalid Depends entry 'a:'"),
    ],
)
def test_errors_quote_the_entry_and_field(text: str, message: str) -> None:
    with pytest.raises(DebianError) as info:
        parse_relations(text, "Depends")
    assert message in str(info.value)
    # the whole field is quoted too, so a long line can be found again
    assert repr(" ".join(text.split())) in str(info.value) or "alternative" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a | b", "cannot have alternatives"),
        ("a (>= 1)", "may only use '='"),
    ],
)
def test_provides_errors(text: str, message: str) -> None:
    with pytest.raises(DebianError, match=message):
        parse_provides(text)


def test_error_in_a_long_field_quotes_the_whole_field() -> None:
    with pytest.raises(DebianError) as info:
        parse_relations("libc6 (>= 2.34),\n libfoo (>= )", "Pre-Depends")
    assert str(info.value) == (
        "invalid Pre-Depends entry 'libfoo (>= )' in 'libc6 (>= 2.34), libfoo (>= )'"
    )
