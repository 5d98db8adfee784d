""".dockerignore: which files of the build context the build may see.

Semantics follow docker's: one pattern per line, ``#`` lines are comments, surrounding white
space is trimmed, a leading ``!`` makes an exception, patterns are cleaned like paths
(``./a`` and ``/a`` mean ``a``), ``*`` and ``?`` never cross ``/``, ``**`` crosses any number
of directories, ``[...]`` is a character class and ``\\`` escapes.  The last matching
pattern wins, and a pattern that matches a directory matches everything below it.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from distroless.errors import InputError


@dataclass(frozen=True)
class IgnorePattern:
    """One cleaned pattern, compiled to an anchored regular expression."""

    pattern: str
    exclusion: bool
    regex: re.Pattern[str]

    def match(self, path: str) -> bool:
        return self.regex.match(path) is not None


def _clean(pattern: str) -> str:
    cleaned = posixpath.normpath(pattern) if pattern else pattern
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if len(cleaned) > 1 and cleaned.startswith("/"):
        cleaned = cleaned[1:]
    return cleaned


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """Translate the ``[...]`` class at ``start``; return it and the index after ``]``."""
    i = start + 1
    out = ["["]
    if pattern[i : i + 1] == "^":
        out.append("^")
        i += 1
    items = 0

    def take() -> str:
        nonlocal i
        if pattern[i] == "\\" and i + 1 < len(pattern):
            i += 2
            return pattern[i - 1]
        i += 1
        return pattern[i - 1]

    while i < len(pattern):
        if pattern[i] == "]" and items:
            out.append("]")
            return "".join(out), i + 1
        low = take()
        if i + 1 < len(pattern) and pattern[i] == "-" and pattern[i + 1] != "]":
            i += 1
            out.append(f"{re.escape(low)}-{re.escape(take())}")
        else:
            out.append(re.escape(low))
        items += 1
    raise InputError(f"pattern {pattern!r} has an unclosed '['")


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(.*/)?")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i + 1 < n:
                i += 1
                out.append(re.escape(pattern[i]))
            else:
                out.append(r"\\")
        elif ch == "[":
            translated, i = _char_class(pattern, i)
            out.append(translated)
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error as exc:
        raise InputError(f"pattern {pattern!r} is not valid: {exc}") from None


@dataclass(frozen=True)
class DockerIgnore:
    """An ordered list of patterns; :meth:`matches` says whether a path is excluded."""

    patterns: tuple[IgnorePattern, ...] = ()

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        lines = text.removeprefix("\ufeff").splitlines()
        try:
            return cls.of_patterns(line for line in lines if not line.startswith("#"))
        except InputError as exc:
            raise InputError(f".dockerignore {exc.message}") from None

    @classmethod
    def of_patterns(cls, lines: Iterable[str]) -> DockerIgnore:
        """Patterns given one by one (``COPY --exclude``), read as .dockerignore lines."""
        patterns: list[IgnorePattern] = []
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
            if not line:
                continue
            cleaned = _clean(line)
            patterns.append(IgnorePattern(cleaned, exclusion, _compile(cleaned)))
        return cls(tuple(patterns))

    @classmethod
    def load(cls, context: str | Path, dockerfile: str | Path | None = None) -> DockerIgnore:
        """Read ``<Dockerfile>.dockerignore`` if present, else ``<context>/.dockerignore``."""
        candidates: list[Path] = []
        if dockerfile is not None:
            candidates.append(Path(str(dockerfile) + ".dockerignore"))
        candidates.append(Path(context) / ".dockerignore")
        for candidate in candidates:
            if candidate.is_file():
                try:
                    return cls.parse(candidate.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError) as exc:
                    raise InputError(f"cannot read {str(candidate)!r}: {exc}") from None
        return cls()

    def matches(self, relpath: str) -> bool:
        """Whether ``relpath`` (relative to the context, ``/``-separated) is excluded."""
        path = posixpath.normpath(relpath.replace(os.sep, "/")).lstrip("/")
        parent = posixpath.dirname(path)
        parents = parent.split("/") if parent else []
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit:
                hit = any(pattern.match("/".join(parents[: i + 1])) for i in range(len(parents)))
            if hit:
                matched = not pattern.exclusion
        return matched

    def include_for(self, context: str | Path) -> Iterator[str]:
        """Walk ``context`` and yield, sorted, the relative paths the build may see.

        Directories are yielded too (before their contents).  An excluded directory is
        skipped entirely unless an exception pattern might re-include something in it, in
        which case it is walked and only its re-included entries are yielded.
        """
        root = Path(context)
        if not root.is_dir():
            raise InputError(f"build context {str(root)!r} is not a directory")
        yield from self._walk(root, "")

    def _walk(self, directory: Path, prefix: str) -> Iterator[str]:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise InputError(
                f"cannot read build context directory {str(directory)!r}: {exc}"
            ) from None
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            excluded = self.matches(rel)
            is_dir = entry.is_dir(follow_symlinks=False)
            if not excluded:
                yield rel
            if is_dir and (not excluded or self.may_reinclude(rel)):
                yield from self._walk(Path(entry.path), rel + "/")

    def may_reinclude(self, directory: str) -> bool:
        """Whether some exception pattern could match below ``directory``."""
        for pattern in self.patterns:
            if not pattern.exclusion:
                continue
            literal = re.split(r"[*?\[\\]", pattern.pattern, maxsplit=1)[0]
            if literal.startswith(directory + "/") or (directory + "/").startswith(literal):
                return True
        return False
