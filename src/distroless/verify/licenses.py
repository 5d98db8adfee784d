"""Debian (DEP-5) license names turned into SPDX license expressions.

Debian copyright files use short names such as ``GPL-2+`` or ``BSD-3-clause`` that are
close to, but not, SPDX identifiers.  SBOM consumers match on SPDX ids, so the common
names are mapped; anything else becomes a ``LicenseRef-`` so the expression stays valid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_DEP5_TO_SPDX = {
    "gpl-1": "GPL-1.0-only",
    "gpl-1+": "GPL-1.0-or-later",
    "gpl-2": "GPL-2.0-only",
    "gpl-2+": "GPL-2.0-or-later",
    "gpl-3": "GPL-3.0-only",
    "gpl-3+": "GPL-3.0-or-later",
    "lgpl-2": "LGPL-2.0-only",
    "lgpl-2+": "LGPL-2.0-or-later",
    "lgpl-2.1": "LGPL-2.1-only",
    "lgpl-2.1+": "LGPL-2.1-or-later",
    "lgpl-3": "LGPL-3.0-only",
    "lgpl-3+": "LGPL-3.0-or-later",
    "gfdl-1.2": "GFDL-1.2-only",
    "gfdl-1.2+": "GFDL-1.2-or-later",
    "gfdl-1.3": "GFDL-1.3-only",
    "gfdl-1.3+": "GFDL-1.3-or-later",
    "agpl-3": "AGPL-3.0-only",
    "agpl-3+": "AGPL-3.0-or-later",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "expat": "MIT",
    "mit": "MIT",
    "x11": "X11",
    "isc": "ISC",
    "zlib": "Zlib",
    "apache-2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "mpl-1.1": "MPL-1.1",
    "mpl-2.0": "MPL-2.0",
    "artistic": "Artistic-1.0-Perl",
    "artistic-2.0": "Artistic-2.0",
    "psf-2": "PSF-2.0",
    "python": "Python-2.0",
    "curl": "curl",
    "openssl": "OpenSSL",
    "ssleay": "SSLeay-standalone",
    "cc0-1.0": "CC0-1.0",
    "cc0": "CC0-1.0",
    "bsl-1.0": "BSL-1.0",
    "unicode-dfs-2016": "Unicode-DFS-2016",
    "bzip2-1.0.6": "bzip2-1.0.6",
    "sleepycat": "Sleepycat",
    "gcc-exception-3.1": "GCC-exception-3.1",
    "mpl-2.0-no-copyleft-exception": "MPL-2.0-no-copyleft-exception",
    "fsful": "FSFUL",
    "fsfullr": "FSFULLR",
    "fsfap": "FSFAP",
    "bsd-4-clause-uc": "BSD-4-Clause-UC",
    "ofl-1.1": "OFL-1.1",
    "lgpl-2.0": "LGPL-2.0-only",
    "lgpl-2.0+": "LGPL-2.0-or-later",
    "gpl-2.0": "GPL-2.0-only",
    "gpl-2.0+": "GPL-2.0-or-later",
    "gpl-3.0": "GPL-3.0-only",
    "gpl-3.0+": "GPL-3.0-or-later",
}

# ``<license> with <name> exception`` of DEP-5, as SPDX ``WITH`` exception ids.
_EXCEPTIONS = {
    "linux-syscall-note": "Linux-syscall-note",
    "gcc-3.1": "GCC-exception-3.1",
    "gcc-runtime-library": "GCC-exception-3.1",
    "bison": "Bison-exception-2.2",
    "autoconf": "Autoconf-exception-2.0",
    "classpath": "Classpath-exception-2.0",
    "libtool": "Libtool-exception",
    "font": "Font-exception-2.0",
}

_REF_CHARS = re.compile(r"[^A-Za-z0-9.-]+")


def license_ref(name: str) -> str:
    """A ``LicenseRef-`` id for a name SPDX does not know (letters, digits, ``.`` and ``-``)."""
    return "LicenseRef-" + (_REF_CHARS.sub("-", name).strip("-") or "unknown")


def _one(name: str) -> str:
    return _DEP5_TO_SPDX.get(name.lower()) or license_ref(name)


def _with_exception(words: list[str]) -> str | None:
    """``GPL-2 with Linux-syscall-note exception`` as ``GPL-2.0-only WITH Linux-syscall-note``."""
    lowered = [w.lower() for w in words]
    if len(words) == 4 and lowered[1] == "with" and lowered[3] == "exception":
        license_id = _DEP5_TO_SPDX.get(lowered[0])
        exception = _EXCEPTIONS.get(lowered[2])
        if license_id and exception:
            return f"{license_id} WITH {exception}"
    return None


def spdx_expression(dep5: str) -> str:
    """One DEP-5 ``License:`` value (``GPL-2+ or Artistic``) as an SPDX expression."""
    words = dep5.replace(",", " ").split()
    if any(w.lower() in ("with", "exception") for w in words):
        return _with_exception(words) or license_ref(dep5)
    if not words:
        return license_ref(dep5)
    out: list[str] = []
    for word in words:
        lower = word.lower()
        if lower in ("or", "and"):
            if out and out[-1] not in ("OR", "AND"):
                out.append(lower.upper())
        else:
            if out and out[-1] not in ("OR", "AND"):
                out.append("AND")
            out.append(_one(word))
    if out and out[-1] in ("OR", "AND"):
        out.pop()
    return " ".join(out)


def combined_expression(names: Iterable[str]) -> str | None:
    """All of a package's licenses ANDed (every file's terms apply); None when unknown.

    Plain AND terms are flattened and deduplicated; alternatives are kept in parentheses.
    """
    terms: set[str] = set()
    for name in names:
        expression = spdx_expression(name)
        if " OR " in expression:
            terms.add(f"({expression})")
        else:
            terms.update(expression.split(" AND "))
    if not terms:
        return None
    ordered = sorted(terms)
    if len(ordered) == 1:
        return (
            ordered[0].removeprefix("(").removesuffix(")")
            if ordered[0].startswith("(")
            else ordered[0]
        )
    return " AND ".join(ordered)


def license_refs(expression: str) -> set[str]:
    """The ``LicenseRef-`` ids used by ``expression``."""
    return {
        t
        for t in expression.replace("(", " ").replace(")", " ").split()
        if t.startswith("LicenseRef-")
    }
