"""dpkg version parsing and ordering, checked against dpkg itself and python-debian."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distroless.debian.version import Version, compare_strings, compare_versions
from distroless.errors import DebianError

# (smaller, larger) pairs whose order trips up naive comparisons.
ORDERED = [
    ("1.0~rc1", "1.0"),
    ("1.0~~", "1.0~"),
    ("1.0~~a", "1.0~"),
    ("1.0~", "1.0"),
    ("1.0", "1.0a"),
    ("1.0a", "1.0+"),
    ("1.0+", "1.0.1"),
    ("1.0", "1.0.0.1"),
    ("1.9", "1.10"),
    ("1.2.3", "1.2.10"),
    ("0.9", "1:0.1"),
    ("1:9.9", "2:0.0"),
    ("1.0-1", "1.0-2"),
    ("1.0-9", "1.0-10"),
    ("1.0-1", "1.0-1+deb12u1"),
    ("1.0-1~bpo1", "1.0-1"),
    ("2.36-9+deb12u4", "2.36-9+deb12u10"),
    ("3.0.11-1~deb12u2", "3.0.11-1"),
    ("1.0-0", "1.0-0.1"),
    ("a", "b"),
    ("Z", "a"),
    ("1.0.A", "1.0.a"),
    ("1.0a", "1.0."),
    ("9", "10"),
    ("1.0~beta", "1.0~rc"),
    ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12"),
]

EQUAL = [
    ("1.0", "1.0"),
    ("1.0", "0:1.0"),
    ("1.0", "1.0-0"),
    ("1.0", "1.00"),
    ("1.01", "1.1"),
    ("0:1.0-0", "1.0"),
    ("1.0-0", "1.0-00"),
]


@pytest.mark.parametrize(("low", "high"), ORDERED)
def test_ordering_table(low: str, high: str) -> None:
    assert Version.parse(low) < Version.parse(high)
    assert Version.parse(high) > Version.parse(low)
    assert compare_versions(low, high) < 0
    assert compare_versions(high, low) > 0
    assert Version.parse(low) != Version.parse(high)


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal_spellings_compare_and_hash_equal(a: str, b: str) -> None:
    va, vb = Version.parse(a), Version.parse(b)
    assert va == vb
    assert hash(va) == hash(vb)
    assert compare_versions(a, b) == 0
    assert len({va, vb}) == 1
    assert str(va) == a  # the spelling is kept


def test_parts() -> None:
    v = Version.parse("2:1.2-3-4~deb12u1")
    assert (v.epoch, v.upstream, v.revision) == (2, "1.2-3", "4~deb12u1")
    assert str(v) == "2:1.2-3-4~deb12u1"
    plain = Version.parse("  1.2 ")
    assert (plain.epoch, plain.upstream, plain.revision, str(plain)) == (0, "1.2", "", "1.2")


def test_built_in_code_spells_itself() -> None:
    assert str(Version(1, "2.0", "3")) == "1:2.0-3"
    assert str(Version(0, "2.0", "")) == "2.0"


def test_compare_strings_tilde_before_end() -> None:
    assert compare_strings("~", "") < 0
    assert compare_strings("", "a") < 0
    assert compare_strings("00", "0") == 0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("1.0 1", "whitespace"),
        (":1.0", "epoch is empty"),
        ("a:1.0", "epoch is not a number"),
        ("99999999999:1.0", "epoch is too big"),
        ("1:", "nothing after the colon"),
        ("1.0-", "revision is empty"),
        ("-1", "upstream version is empty"),
        ("1.0_1", "invalid character in the version"),
        ("1.0-a_b", "invalid character in the revision"),
        ("1:1.0-a:b", "invalid character in the revision"),
    ],
)
def test_invalid_versions(text: str, reason: str) -> None:
    with pytest.raises(DebianError, match=reason) as info:
        Version.parse(text)
    assert repr(text) in str(info.value)


def test_not_comparable_with_strings() -> None:
    assert Version.parse("1.0") != "1.0"
    with pytest.raises(TypeError):
        _ = Version.parse("1.0") < "2.0"


# Small alphabets make collisions (and so the interesting tie-break rules) likely.
_UPSTREAM_TAIL = st.text(alphabet="0123456789.+~ab", max_size=6)
_REVISION = st.text(alphabet="019.+~ab", min_size=1, max_size=5)


@st.composite
def versions(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from("0123456789")) + draw(_UPSTREAM_TAIL)
    if draw(st.booleans()):
        text += "-" + draw(_REVISION)
        if draw(st.booleans()):
            text = draw(st.sampled_from("01")) + "-" + text  # a hyphen inside upstream
    if draw(st.booleans()):
        text = f"{draw(st.integers(0, 2))}:{text}"
    return text


def _dpkg(a: str, op: str, b: str) -> bool:
    result = subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False)
    assert result.returncode in (0, 1)
    return result.returncode == 0


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(versions(), versions())
def test_matches_dpkg(a: str, b: str) -> None:
    ours = compare_versions(a, b)
    if _dpkg(a, "lt", b):
        assert ours < 0
    elif _dpkg(a, "eq", b):
        assert ours == 0
        assert hash(Version.parse(a)) == hash(Version.parse(b))
    else:
        assert ours > 0


@settings(max_examples=300, deadline=None)
@given(versions(), versions())
def test_matches_python_debian(a: str, b: str) -> None:
    debian_support = pytest.importorskip("debian.debian_support")
    theirs = debian_support.version_compare(a, b)
    ours = compare_versions(a, b)
    assert (ours > 0) - (ours < 0) == (theirs > 0) - (theirs < 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(versions(), min_size=2, max_size=8))
def test_sorting_is_consistent(texts: list[str]) -> None:
    ordered = sorted(Version.parse(t) for t in texts)
    for low, high in itertools.pairwise(ordered):
        assert low.compare(high) <= 0
        assert high.compare(low) >= 0
