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

The Dockerfile is untrusted, and ``ENV A=$A$A`` doubles a value per line: one expansion may
produce at most :data:`MAX_EXPANSION` characters, and the ``#``/``%`` trims run in time
linear in the value (never one glob match per cut, which is quadratic).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from functools import lru_cache

from distroless.errors import DockerfileError

_SPECIAL_PARAMS = frozenset("@*#?-$!0")

#: the most characters one expansion may produce (far above any real value: Linux passes
#: at most 128 KiB per environment string to a program)
MAX_EXPANSION = 1 << 20

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
    """Accumulates words the way docker's lexer does: empty quoted words are dropped.

    Pieces are collected in a list and joined once per word: a value of a million
    characters costs a million steps, not a million copies of a growing string.
    """

    def __init__(self) -> None:
        self.words: list[str] = []
        self.parts: list[str] = []
        self.size = 0
        self.in_word = False

    def end_word(self) -> None:
        if self.in_word and self.size:
            self.words.append("".join(self.parts))
            self.parts = []
            self.size = 0
            self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            self.end_word()
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        self.in_word = True

    def add_string(self, text: str) -> None:
        """Unquoted text: white space (``str.isspace``, as ``str.split`` sees it) splits."""
        if not text:
            return
        pieces = text.split()
        if not pieces or text[0].isspace():
            self.end_word()
        for i, piece in enumerate(pieces):
            if i:
                self.end_word()
            self.add_raw(piece)
        if pieces and text[-1].isspace():
            self.end_word()

    def result(self) -> list[str]:
        if self.size:
            self.words.append("".join(self.parts))
            self.parts = []
            self.size = 0
            self.in_word = False
        return self.words


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text = text
        self.env = env
        self.escape = escape
        self.pos = 0
        self.produced = 0  # characters substituted so far, nested expansions included
        self.stopped_at = ""

    def grow(self, value: str) -> str:
        self.produced += len(value)
        if self.produced > MAX_EXPANSION:
            raise DockerfileError(
                f"variable substitution produces more than {MAX_EXPANSION} characters"
            )
        return value

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def process(self, stop: str = "", *, pattern: bool = False) -> tuple[str, list[str]]:
        """Read up to any character of ``stop`` (or the end); return the processed text and
        its words.  :attr:`stopped_at` says which stop ended it.

        In a ``pattern`` (``${v%p}``, ``${v/p/r}``) an escaped glob character stays literal:
        it is written as a one-character class, which the matcher reads as that character.
        """
        result: list[str] = []
        words = _Words()
        while self.peek():
            ch = self.peek()
            if stop and ch in stop:
                self.stopped_at = self.next()
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
                value = self.grow(self._dollar())
                result.append(value)
                words.add_string(value)
            else:
                ch = self.next()
                if ch == self.escape:
                    ch = self.next()
                    if not ch:
                        break
                    words.add_raw(ch)
                    if pattern and ch in _GLOB_SPECIALS:
                        ch = f"[{ch}]"
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
                out.append(self.grow(self._dollar()))
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
            pattern, _ = self.process("}", pattern=True)
            return _trim(value or "", pattern, prefix=ch == "#", longest=longest)
        if ch == "/":
            every = self.peek() == "/"
            if every:
                self.next()
            pattern, _ = self.process("/}", pattern=True)
            replacement = ""
            if self.stopped_at == "/":
                replacement, _ = self.process("}")
            return _replace(value or "", pattern, replacement, every=every)
        if not ch:
            raise DockerfileError("syntax error: missing '}'")
        raise DockerfileError(f"unsupported modifier ({ch}) in substitution")


def _trim(value: str, pattern: str, *, prefix: bool, longest: bool) -> str:
    """Remove the shortest or longest prefix/suffix of ``value`` matching a glob pattern."""
    pieces = _glob_pieces(pattern)
    if len(value) * (len(pieces) + 1) > _TRIM_WORK:
        raise DockerfileError(
            f"the pattern {pattern[:40]!r} is too long to trim a value of {len(value)} characters"
        )
    if prefix:
        cut, _ = _match_length(value, pieces, longest=longest)
        return value if cut is None else value[cut:]
    cut, _ = _match_length(value[::-1], pieces[::-1], longest=longest)
    return value if cut is None else value[: len(value) - cut]


def _replace(value: str, pattern: str, replacement: str, *, every: bool) -> str:
    """``${v/p/r}`` (the first match, longest at the leftmost start) and ``${v//p/r}``
    (every match), found with the same linear matcher as the trims: a glob of stars
    handed to a backtracking regex could take polynomial time on a hostile value."""
    pieces = _glob_pieces(pattern)
    if not pattern or any(p not in value for p in set(pieces) if p in _glob(pieces).literal):
        return value  # a literal the value lacks: nothing can match, and no start is tried
    budget = _TRIM_WORK // (len(pieces) + 1)
    out: list[str] = []
    i = 0
    while i <= len(value):
        cut, read = _match_length(value, pieces, longest=True, start=i)
        budget -= read + 1
        if budget < 0:
            raise DockerfileError(
                f"the pattern {pattern[:40]!r} is too costly to replace in a value of "
                f"{len(value)} characters"
            )
        if cut:  # an empty match replaces nothing, as in BuildKit
            out.append(replacement)
            i += cut
            if not every:
                break
            continue
        if cut is None and pieces[0] == "*":
            break  # a leading star that matches from here matches from nowhere later
        if i < len(value):
            out.append(value[i])
        i += 1
    out.append(value[i:])
    return "".join(out)


#: characters a pattern reads specially, so an escaped one is written as a class
_GLOB_SPECIALS = frozenset("*?[\\")

#: characters times pattern pieces one trim may cost (a 1 MiB value, a 10-piece pattern)
_TRIM_WORK = 10 * MAX_EXPANSION


@lru_cache(maxsize=256)
def _glob_pieces(pattern: str) -> tuple[str, ...]:
    """A glob as ``*`` and one-character matchers (a literal, ``?`` or a ``[...]`` class),
    read the way :func:`fnmatch.translate` reads it, runs of ``*`` merged."""
    pieces: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "[":
            j = i + 1
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j < n:
                pieces.append(pattern[i : j + 1])
                i = j + 1
                continue
        if not (ch == "*" and pieces and pieces[-1] == "*"):
            pieces.append(ch)
        i += 1
    return tuple(pieces)


class _Glob:
    """A glob's automaton as bit masks: bit ``i`` set means "the first ``i`` pieces match
    what was read"; a ``*`` keeps its bit and may be skipped."""

    def __init__(self, pieces: tuple[str, ...]) -> None:
        self.stars = self.any_char = 0
        self.literal: dict[str, int] = {}
        self.classes: list[tuple[int, str]] = []
        for i, piece in enumerate(pieces):
            if piece == "*":
                self.stars |= 1 << i
            elif piece == "?":
                self.any_char |= 1 << i
            elif len(piece) > 1:
                self.classes.append((1 << i, piece))
            else:
                self.literal[piece] = self.literal.get(piece, 0) | 1 << i
        self.accept = 1 << len(pieces)
        self.masks: dict[str, int] = {}

    def mask(self, ch: str) -> int:
        mask = self.masks.get(ch)
        if mask is None:
            mask = self.literal.get(ch, 0) | self.any_char
            for bit, piece in self.classes:
                if fnmatch.fnmatchcase(ch, piece):
                    mask |= bit
            self.masks[ch] = mask
        return mask

    def closure(self, states: int) -> int:
        return states | ((states & self.stars) << 1)  # runs of stars are merged: one step


@lru_cache(maxsize=256)
def _glob(pieces: tuple[str, ...]) -> _Glob:
    return _Glob(pieces)


def _match_length(
    text: str, pieces: tuple[str, ...], *, longest: bool, start: int = 0
) -> tuple[int | None, int]:
    """The shortest (or longest) ``n`` such that ``text[start:start + n]`` matches
    ``pieces`` whole, and how many characters were read to find out.

    One pass of the glob's automaton over ``text``, so a trim is linear in the value,
    never a glob match per cut.
    """
    glob = _glob(pieces)
    states = glob.closure(1)
    found = 0 if states & glob.accept else None
    if found is not None and not longest:
        return 0, 0
    read = 0
    for position in range(start, len(text)):
        read += 1
        states = glob.closure(((states & glob.mask(text[position])) << 1) | (states & glob.stars))
        if not states:
            break
        if states & glob.accept:
            found = read
            if not longest:
                break
    return found, read


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
