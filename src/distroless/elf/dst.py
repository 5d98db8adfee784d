"""Dynamic string tokens and search path lists, as glibc's loader reads them.

``$ORIGIN`` (the directory of the object, as the loader named it), ``$LIB`` and
``$PLATFORM`` may appear in ``DT_RPATH``, ``DT_RUNPATH``, ``LD_LIBRARY_PATH`` and in
``DT_NEEDED`` names, bare or in braces.  A token is recognised only when no identifier
character follows it (``$ORIGINAL`` is no token); an unknown ``$NAME`` stays as it is; a
known token without a value (``$PLATFORM`` where the kernel sets none) drops the whole
path element.  A path list splits at ``:`` (``LD_LIBRARY_PATH`` also at ``;``); an empty
element means the current directory; duplicates keep their first place; each directory
ends in exactly one ``/``.  Secure-execution (setuid) rules are not applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DST = re.compile(r"\$(?:\{(ORIGIN|PLATFORM|LIB)\}|(ORIGIN|PLATFORM|LIB)(?![A-Za-z0-9_]))")


@dataclass(frozen=True)
class Tokens:
    """The values the loader substitutes; None when it has none for a token."""

    origin: str | None
    platform: str | None
    lib: str | None


def has_tokens(text: str) -> bool:
    return _DST.search(text) is not None


def expand(text: str, tokens: Tokens) -> str | None:
    """``text`` with its tokens substituted; None when a token has no value."""
    values = {"ORIGIN": tokens.origin, "PLATFORM": tokens.platform, "LIB": tokens.lib}
    out: list[str] = []
    pos = 0
    for match in _DST.finditer(text):
        value = values[match.group(1) or match.group(2)]
        if value is None:
            return None
        out.append(text[pos : match.start()])
        out.append(value)
        pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def split_path_list(text: str, tokens: Tokens, *, separators: str = ":") -> tuple[str, ...]:
    """The directories of a search path list, each ending in ``/`` (``""``: the cwd).

    An empty list is no list at all (not the current directory).
    """
    if not text:
        return ()
    parts = re.split("[" + re.escape(separators) + "]", text)
    dirs: list[str] = []
    for part in parts:
        directory = ""
        if part:
            expanded = expand(part, tokens)
            if not expanded:
                continue
            directory = expanded.rstrip("/") or "/"
            if not directory.endswith("/"):
                directory += "/"
        if directory not in dirs:
            dirs.append(directory)
    return tuple(dirs)
