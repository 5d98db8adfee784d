"""One reported item of ``check``: what kind of problem, how grave, where, and in words.

The policy rules (:mod:`distroless.verify.check`) and the "will it run" rules
(:mod:`distroless.verify.runnable`, :mod:`distroless.verify.trust`) report the same value,
so a script reads every item of the report the same way.  Items about a missing piece
also say which piece (``missing``: a library, a symbol version, an interpreter) and, when
the Debian indices know one, which package would bring it (``package``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.Enum):
    FINDING = "finding"
    NOTE = "note"


@dataclass(frozen=True)
class Finding:
    """One reported item; ``kind`` is a stable identifier scripts can match on."""

    kind: str
    severity: Severity
    path: str
    message: str
    #: the missing piece: ``libstdc++.so.6``, ``GLIBC_2.38``, ``/bin/sh``
    missing: str | None = None
    #: the Debian package that would provide the missing piece, when one is known
    package: str | None = None

    def to_dict(self) -> dict[str, str]:
        out = {
            "kind": self.kind,
            "severity": self.severity.value,
            "path": self.path,
            "message": self.message,
        }
        if self.missing is not None:
            out["missing"] = self.missing
        if self.package is not None:
            out["package"] = self.package
        return out


def finding(kind: str, path: str, message: str, **extra: str | None) -> Finding:
    return Finding(kind, Severity.FINDING, path, message, **extra)


def note(kind: str, path: str, message: str) -> Finding:
    return Finding(kind, Severity.NOTE, path, message)
