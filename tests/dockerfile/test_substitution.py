"""Variable substitution and quote removal, matching docker's word processor."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distroless.dockerfile.substitution import MAX_EXPANSION, _trim, expand, expand_words
from distroless.errors import DockerfileError

ENV = {"PWD": "/home", "EMPTY": "", "SPACED": "1  2", "VAR": "a/b/c", "X": "x"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", "hello"),
        ("he'll'o", "hello"),
        ("he\\'llo", "he'llo"),
        ('"hello"', "hello"),
        ("'hello\\'", "hello\\"),
        ("\"''\"", "''"),
        ("$.", "$."),
        ("$", "$"),
        ("he$1x", "hex"),
        ("he$PWD", "he/home"),
        ("he${PWD}x", "he/homex"),
        ("$PWDx", ""),
        ("\\$PWD", "$PWD"),
        ('"\\$PWD"', "$PWD"),
        ("'$PWD'", "$PWD"),
        ('"$PWD"', "/home"),
        ('"\\a\\"\\\\"', '\\a"\\'),
        ("abc\\", "abc"),
        ("${PWD:-x}", "/home"),
        ("${NOTSET:-x}", "x"),
        ("${EMPTY:-x}", "x"),
        ("${EMPTY-x}", ""),
        ("${NOTSET-x}", "x"),
        ("${PWD:+x}", "x"),
        ("${NOTSET:+x}", ""),
        ("${EMPTY:+x}", ""),
        ("${EMPTY+x}", "x"),
        ("${NOTSET+x}", ""),
        ("${NOTSET:-${PWD}/sub}", "/home/sub"),
        ('${NOTSET:-"a b"}', "a b"),
        ("${NOTSET:-a\\}b}", "a}b"),
        ("${VAR#*/}", "b/c"),
        ("${VAR##*/}", "c"),
        ("${VAR%/*}", "a/b"),
        ("${VAR%%/*}", "a"),
        ("${VAR#nomatch}", "a/b/c"),
        ("${PWD:?}", "/home"),
        ("$NOTSET", ""),
        ("a${X}b$X", "axbx"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, ENV) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("he'llo", "matching single-quote"),
        ('"hello', "matching double-quote"),
        ("${PWD", "missing '}'"),
        ("${PWD:-x", "missing '}'"),
        ("${}", "bad substitution"),
        ("${:x}", "bad substitution"),
        ("${PWD:=x}", r"unsupported modifier \(=\)"),
        ("${PWD/a", "missing .}."),
        ("${NOTSET:?}", "NOTSET: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${NOTSET?custom message}", "NOTSET: custom message"),
    ],
)
def test_expand_errors(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message):
        expand(text, ENV)


def test_expand_error_names_location() -> None:
    with pytest.raises(DockerfileError, match=r"^Dockerfile:7: syntax error: missing '\}'$"):
        expand("${A", {}, where="Dockerfile:7")


def test_backtick_escape() -> None:
    assert expand("a`$b", {"b": "B"}, "`") == "a$b"
    assert expand("C:\\path\\$b", {"b": "B"}, "`") == "C:\\path\\B"
    assert expand('"`""', {}, "`") == '"'
    with pytest.raises(DockerfileError, match="invalid escape character"):
        expand("x", {}, "!")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a b  c", ["a", "b", "c"]),
        ('"a b" c', ["a b", "c"]),
        ("$SPACED", ["1", "2"]),
        ('"$SPACED"', ["1  2"]),
        ("x$SPACED", ["x1", "2"]),
        ('""', []),
        ("a\\ b", ["a b"]),
        ("'a  b'c d", ["a  bc", "d"]),
        ("  ", []),
        ("${NOTSET:-p q}", ["p", "q"]),
    ],
)
def test_expand_words(text: str, expected: list[str]) -> None:
    assert expand_words(text, ENV) == expected


_PLAIN = st.text(alphabet=st.characters(exclude_characters="$'\"\\`", exclude_categories=["Cs"]))


@given(_PLAIN)
def test_text_without_special_characters_is_unchanged(text: str) -> None:
    assert expand(text, ENV) == text


@given(_PLAIN)
def test_words_of_plain_text_are_whitespace_split(text: str) -> None:
    assert expand_words(text, ENV) == text.split()


@given(st.text(alphabet=st.characters(exclude_characters="'", exclude_categories=["Cs"])))
def test_single_quotes_are_literal(text: str) -> None:
    assert expand(f"'{text}'", ENV) == text


def _double_quote(text: str, escape: str) -> str:
    for ch in (escape, '"', "$"):
        text = text.replace(ch, escape + ch) if ch != escape else text.replace(ch, ch + ch)
    return f'"{text}"'


@given(st.text(), st.sampled_from(["\\", "`"]))
def test_double_quoting_with_escapes_round_trips(text: str, escape: str) -> None:
    assert expand(_double_quote(text, escape), ENV, escape) == text


@given(st.text(min_size=1), st.sampled_from(["\\", "`"]))
def test_escaping_every_character_round_trips(text: str, escape: str) -> None:
    escaped = "".join(escape + ch for ch in text)
    assert expand(escaped, ENV, escape) == text
    assert expand_words(escaped, ENV, escape) == ([text] if text else [])


@given(st.dictionaries(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), st.text()))
def test_braced_reference_yields_value(env: dict[str, str]) -> None:
    for name, value in env.items():
        assert expand("${" + name + "}", env) == value
        assert expand('"$' + name + '"', env) == value


def _trim_by_every_cut(value: str, pattern: str, *, prefix: bool, longest: bool) -> str:
    """The definition of the trims: try each cut with fnmatch (quadratic, so tests only)."""
    cuts = range(len(value), -1, -1) if longest else range(len(value) + 1)
    for cut in cuts:
        if prefix and fnmatch.fnmatchcase(value[:cut], pattern):
            return value[cut:]
        if not prefix and fnmatch.fnmatchcase(value[len(value) - cut :], pattern):
            return value[: len(value) - cut]
    return value


@given(
    st.text(alphabet="ab/-]!", max_size=12),
    st.text(alphabet="ab/*?[]!-", max_size=8),
    st.booleans(),
    st.booleans(),
)
def test_trims_agree_with_fnmatch_at_every_cut(
    value: str, pattern: str, prefix: bool, longest: bool
) -> None:
    assert _trim(value, pattern, prefix=prefix, longest=longest) == _trim_by_every_cut(
        value, pattern, prefix=prefix, longest=longest
    )


def test_a_trim_of_a_long_value_is_one_pass() -> None:
    value = "a" * (MAX_EXPANSION // 16)
    # cut by cut this is ~10^9 character comparisons; one pass is 6 * 10^4 steps
    assert expand("${V%%*b*a}", {"V": value}) == value
    assert expand("${V##*a}", {"V": value + "b"}) == "b"


def test_doubling_a_value_stops_at_the_limit_naming_the_line() -> None:
    env = {"A": "x" * 1000}
    text = "$A" * 1000
    with pytest.raises(DockerfileError, match=r"^Dockerfile:7: .*more than 1048576 characters"):
        expand(text + text, env, where="Dockerfile:7")
    assert len(expand(text, env)) == 1_000_000


def test_an_escaped_star_in_a_pattern_is_a_literal_star() -> None:
    env = {"FOO": "a*b*c"}
    assert expand(r"${FOO%%\**}", env) == "a"
    assert expand(r"${FOO%\**}", env) == "a*b"
    assert expand(r"${FOO#*\*}", env) == "b*c"
    assert expand(r"${FOO%%*}", env) == ""


def test_replace_the_first_or_every_match() -> None:
    env = {"V": "banana"}
    assert expand("${V/a/X}", env) == "bXnana"
    assert expand("${V//a/X}", env) == "bXnXnX"
    assert expand("${V/q/X}", env) == "banana"
    assert expand("${V/a}", env) == "bnana"
    assert expand("${V//[an]/-}", env) == "b-----"
    assert expand("${V/n*/X}", env) == "baX"
    assert expand("${UNSET/a/X}", env) == ""


def test_replace_stays_linear_where_a_backtracking_matcher_would_not() -> None:
    value = "x" * 200_000 + "y"
    assert expand("${V//*a*b*c*/X}", {"V": value}) == value  # one pass: no start matches
    assert expand("${V//x*z/X}", {"V": value}) == value  # no "z": no start is tried
    with pytest.raises(DockerfileError, match="too costly to replace"):
        expand("${V//x*y?/X}", {"V": value})  # every start reads to the end
