"""Untrusted names become paths only through distroless.rootpath, in the whole package.

A second symlink walk (``os.path.realpath``, ``Path.resolve()``, a hop counter of its
own) or an unpacker that writes where archive members say (``extractall``) is how the
context and ADD archives reached the host before; this keeps them from coming back.  The
few ``resolve()`` calls left are on paths the user gave (trusted, see docs/security.md),
each listed here with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import distroless

PACKAGE = Path(distroless.__file__).parent
FORBIDDEN = {
    "os.path.realpath": re.compile(r"\brealpath\b"),
    "Path.resolve()": re.compile(r"\.resolve\(\s*\)"),
    "tarfile extraction": re.compile(r"\bextractall\b|\bextract\(|filter=\"tar\""),
    "a hop limit of its own": re.compile(r"\bMAX_SYMLINK(S|_HOPS)\s*="),
}
#: (module, line text) -> why that line is not an untrusted name
TRUSTED = {
    ("rootpath.py", "MAX_SYMLINK_HOPS = 40"): "the one resolver's own limit",
    ("store/store.py", "self.root = Path(root).resolve()"): "--root, given by the user",
    ("runtime/rootfs.py", "self.root = Path(root).resolve()"): "the store's cache directory",
    ("runtime/container.py", "rootfs=rootfs.resolve(),"): "a root file system the store made",
    ("spec/loader.py", "return parse_spec(text, path.resolve())"): "the --spec path itself",
    ("debian/inrelease.py", 'cmd += ["--keyring", str(path.resolve())]'): "a host keyring",
}


def test_no_second_resolver_in_the_package() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for what, pattern in FORBIDDEN.items():
                if pattern.search(line) and (module, line.strip()) not in TRUSTED:
                    found.append(f"{module}:{number}: {what}")
    assert not found, "\n".join(found)


def test_every_trusted_line_still_exists() -> None:
    """A listed line that went away must leave the list, so the list stays exact."""
    lines = {
        (path.relative_to(PACKAGE).as_posix(), line.strip())
        for path in PACKAGE.rglob("*.py")
        for line in path.read_text().splitlines()
    }
    assert set(TRUSTED) <= lines, sorted(set(TRUSTED) - lines)
