"""The Dockerfile builder turns untrusted names into paths only through distroless.rootpath.

A second symlink walk (``os.path.realpath``, ``Path.resolve()``, a hop counter of its
own) or an unpacker that writes where archive members say (``extractall``) is how the
context and ADD archives reached the host before; this keeps them from coming back.
"""

from __future__ import annotations

import re
from pathlib import Path

import distroless.dockerfile

PACKAGE = Path(distroless.dockerfile.__file__).parent
FORBIDDEN = {
    "os.path.realpath": re.compile(r"\brealpath\b"),
    "Path.resolve()": re.compile(r"\.resolve\(\s*\)"),
    "tarfile extraction": re.compile(r"\bextractall\b|\bextract\(|filter=\"tar\""),
    "a hop limit of its own": re.compile(r"\bMAX_SYMLINK(S|_HOPS)\s*="),
}


def test_no_second_resolver_in_the_dockerfile_builder() -> None:
    found = [
        f"{path.name}:{number}: {what}"
        for path in sorted(PACKAGE.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for what, pattern in FORBIDDEN.items()
        if pattern.search(line)
    ]
    assert not found, "\n".join(found)
