"""Variable substitution and quote removal, as Dockerfile instructions see it.

Docker does not run a shell to expand ``$var`` in ``COPY``, ``ENV``, ``WORKDIR`` and friends;
it runs a small word processor of its own that knows ``$var``, ``${var}``, the ``:-``, ``-``,
``:+``, ``+``, ``:?``, ``?``, ``#``, ``##``, ``%`` and ``%%`` forms, single quotes (literal),
double quotes (expanding) and the Dockerfile's escape character.  It removes quotes in the
same pass.  This module reproduces that processor as pure functions so that the executor and
the tests agree on exactly one behaviour:

* :func:`expand` gives one string (``ENV``, ``LABEL``, ``WORKDIR``, ``USER`` values ...);
* :func:`expand_words` gives the words of a line split on unquoted white space *after*
  expansion (an unquoted ``$var`` holding spaces yields several words, as in docker).

A variable that is not in ``env`` expands to the empty string.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

from distroless.errors import DockerfileError

_SPECIAL_PARAMS = frozenset("@*#?-$!0")

EXPANDED_INSTRUCTIONS = frozenset(
    {
        "ADD",
        "ARG",
        "COPY",
        "ENV",
        "EXPOSE",
        "FROM",
        "LABEL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
"""Instructions whose arguments (and flag values) docker expands when it runs them.

``RUN``, ``CMD``, ``ENTRYPOINT``, ``SHELL`` and ``HEALTHCHECK`` are left to the shell, and an
``ONBUILD`` trigger is kept verbatim until a later build runs it.  ``FROM`` sees only the
global ``ARG`` values.
"""


class _Words:
    """Accumulates words the way docker's lexer does: empty quoted words are dropped."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word = ""
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text = text
        self.env = env
        self.escape = escape
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def process(self, stop: str = "") -> tuple[str, list[str]]:
        """Read up to ``stop`` (or the end); return the processed text and its words."""
        result: list[str] = []
        words = _Words()
        while self.peek():
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.result()
            if ch == "'":
                value = self._single_quote()
                result.append(value)
                words.add_raw(value)
            elif ch == '"':
                value = self._double_quote()
                result.append(value)
                words.add_raw(value)
            elif ch == "$":
                value = self._dollar()
                result.append(value)
                words.add_string(value)
            else:
                ch = self.next()
                if ch == self.escape:
                    ch = self.next()
                    if not ch:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise DockerfileError("syntax error: missing '}'")
        return "".join(result), words.result()

    def _single_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.next()
            if not ch:
                raise DockerfileError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def _double_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise DockerfileError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                following = self.peek()
                if not following:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def _name(self) -> str:
        name: list[str] = []
        while self.peek():
            ch = self.peek()
            if not name and ch.isdigit():
                while self.peek().isdigit():
                    name.append(self.next())
                return "".join(name)
            if not name and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalnum() or ch == "_"):
                break
            name.append(self.next())
        return "".join(name)

    def _dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            return self.env.get(name, "")
        self.next()
        first = self.peek()
        if not first:
            raise DockerfileError("syntax error: missing '}'")
        if first in "{}:":
            raise DockerfileError("syntax error: bad substitution")
        name = self._name()
        value = self.env.get(name)
        ch = self.next()
        if ch == "}":
            return value or ""
        if ch == ":":
            modifier = self.next()
            word, _ = self.process("}")
            if modifier == "-":
                return value or word
            if modifier == "+":
                return word if value else ""
            if modifier == "?":
                if value is None:
                    raise DockerfileError(f"{name}: {word or 'is not allowed to be unset'}")
                if not value:
                    raise DockerfileError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            raise DockerfileError(f"unsupported modifier ({modifier}) in substitution")
        if ch in ("-", "+", "?"):
            word, _ = self.process("}")
            if ch == "-":
                return word if value is None else value
            if ch == "+":
                return word if value is not None else ""
            if value is None:
                raise DockerfileError(f"{name}: {word or 'is not allowed to be unset'}")
            return value
        if ch in ("#", "%"):
            longest = self.peek() == ch
            if longest:
                self.next()
            pattern, _ = self.process("}")
            return _trim(value or "", pattern, prefix=ch == "#", longest=longest)
        if not ch:
            raise DockerfileError("syntax error: missing '}'")
        raise DockerfileError(f"unsupported modifier ({ch}) in substitution")


def _trim(value: str, pattern: str, *, prefix: bool, longest: bool) -> str:
    """Remove the shortest or longest prefix/suffix of ``value`` matching a glob pattern."""
    cuts = range(len(value), -1, -1) if longest else range(len(value) + 1)
    for cut in cuts:
        if prefix and fnmatch.fnmatchcase(value[:cut], pattern):
            return value[cut:]
        if not prefix and fnmatch.fnmatchcase(value[len(value) - cut :], pattern):
            return value[: len(value) - cut]
    return value


def _too_deep(where: str) -> str:
    # The lexer recurses once per nested ${...}; thousands of levels mean hostile input.
    message = "variable substitutions are nested too deeply"
    return f"{where}: {message}" if where else message


def _check_escape(escape: str) -> None:
    if escape not in ("\\", "`"):
        raise DockerfileError(f"invalid escape character {escape!r}: expected '\\' or '`'")


def expand(text: str, env: Mapping[str, str], escape: str = "\\", *, where: str = "") -> str:
    """Expand variables in ``text`` and remove its quotes, as docker does for one word.

    ``where`` (for instance ``"Dockerfile:7"``) prefixes error messages so that the
    caller's report names the line at fault.
    """
    _check_escape(escape)
    try:
        value, _ = _Lexer(text, env, escape).process()
    except DockerfileError as exc:
        raise DockerfileError(f"{where}: {exc.message}" if where else exc.message) from None
    except RecursionError:
        raise DockerfileError(_too_deep(where)) from None
    return value


def expand_words(
    text: str, env: Mapping[str, str], escape: str = "\\", *, where: str = ""
) -> list[str]:
    """Expand ``text`` and split it into words on unquoted white space.

    Quoted parts stay inside one word; an unquoted expansion containing spaces is split,
    and empty words are dropped, exactly like docker's ``ProcessWords``.
    """
    _check_escape(escape)
    try:
        _, words = _Lexer(text, env, escape).process()
    except DockerfileError as exc:
        raise DockerfileError(f"{where}: {exc.message}" if where else exc.message) from None
    except RecursionError:
        raise DockerfileError(_too_deep(where)) from None
    return words
