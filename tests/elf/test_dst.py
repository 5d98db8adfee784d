"""Dynamic string tokens and search path lists, with glibc's rules for the odd cases."""

from __future__ import annotations

import pytest

from distroless.elf.dst import Tokens, expand, has_tokens, split_path_list

T = Tokens(origin="/app/bin", platform="x86_64", lib="lib/x86_64-linux-gnu")


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("$ORIGIN/../lib", "/app/bin/../lib"),
        ("${ORIGIN}/../lib", "/app/bin/../lib"),
        ("/usr/$LIB/x", "/usr/lib/x86_64-linux-gnu/x"),
        ("/opt/${PLATFORM}/$PLATFORM", "/opt/x86_64/x86_64"),
        ("$ORIGINAL/x", "$ORIGINAL/x"),  # an identifier character follows: no token
        ("$ORIGIN_x", "$ORIGIN_x"),
        ("${ORIGIN", "${ORIGIN"),  # no closing brace
        ("$ORIGIN.d", "/app/bin.d"),
        ("$HOME/lib", "$HOME/lib"),  # unknown tokens stay as they are
        ("/a$", "/a$"),
    ],
)
def test_expand(text: str, result: str) -> None:
    assert expand(text, T) == result


def test_a_token_without_a_value_drops_the_element() -> None:
    none = Tokens(origin="/o", platform=None, lib="lib")
    assert expand("/x/$PLATFORM", none) is None
    assert split_path_list("/a:/x/$PLATFORM:/b", none) == ("/a/", "/b/")
    assert not has_tokens("/plain") and has_tokens("${LIB}")


def test_path_lists() -> None:
    assert split_path_list("/a:/b/:/a//:/c", T) == ("/a/", "/b/", "/c/")
    assert split_path_list("/a::/b", T) == ("/a/", "", "/b/")  # empty: the working directory
    assert split_path_list(":", T) == ("",)
    assert split_path_list("", T) == ()  # an empty list is no list
    assert split_path_list("/", T) == ("/",)
    assert split_path_list("//", T) == ("/",)
    assert split_path_list("rel/dir", T) == ("rel/dir/",)
    assert split_path_list("/a;/b", T) == ("/a;/b/",)
    assert split_path_list("/a;/b:/c", T, separators=":;") == ("/a/", "/b/", "/c/")
    assert split_path_list("$ORIGIN:$ORIGIN/", T) == ("/app/bin/",)
