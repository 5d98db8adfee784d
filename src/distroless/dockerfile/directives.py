"""Parser directives: the ``# name=value`` comments that may open a Dockerfile.

They must come before anything else (a blank line, an ordinary comment or an instruction
ends them), each may appear once, and only ``escape`` changes how the rest of the file is
read.  ``syntax`` and ``check`` are recorded for the caller; an unknown directive is an
ordinary comment and, like one, ends the directive block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from distroless.dockerfile.ast import Directives
from distroless.errors import DockerfileError

_DIRECTIVE = re.compile(r"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")
_KNOWN = ("syntax", "escape", "check")


def parse_directives(lines: Sequence[str], filename: str = "Dockerfile") -> tuple[Directives, int]:
    """Read the directive block at the top of ``lines``.

    Returns the directives and how many lines they occupy, so the caller resumes after
    them.  A repeated directive or an escape other than ``\\`` or a backtick is an error
    naming its line.
    """
    values: dict[str, str] = {}
    count = 0
    for number, line in enumerate(lines, start=1):
        match = _DIRECTIVE.match(line.lstrip(" \t"))  # BuildKit trims the line first
        if match is None:
            break
        name, value = match.group(1).lower(), match.group(2)
        if name not in _KNOWN:
            break
        if name in values:
            raise DockerfileError(
                f"{filename}:{number}:1: only one {name} parser directive can be used"
            )
        if name == "escape" and value not in ("\\", "`"):
            column = line.index(value) + 1
            raise DockerfileError(
                f"{filename}:{number}:{column}: invalid escape character {value!r}: "
                "expected '\\' or '`'"
            )
        values[name] = value
        count = number
    return (
        Directives(
            escape=values.get("escape", "\\"),
            syntax=values.get("syntax"),
            check=values.get("check"),
        ),
        count,
    )
