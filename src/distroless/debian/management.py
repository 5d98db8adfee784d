"""The packages whose job is managing packages or running maintainer scripts.

A distroless image runs no maintainer script and installs nothing after it is built, so
these packages are dead weight there, and their presence is what makes an image fail
``check`` (a package manager, a shell for the scripts, ``tar``).  A closure never pulls
them in through ``Depends``/``Pre-Depends``: the relation is recorded as deliberately
unsatisfied instead.  A spec may name one explicitly (then it is added, and ``check``
reports it) or replace the list (``management_packages:``).
"""

from __future__ import annotations

from collections.abc import Sequence

#: The built-in list; docs/spec.md shows it and says why each is on it.
DEFAULT_MANAGEMENT: tuple[str, ...] = (
    # package managers and their front ends
    "apt",
    "dpkg",
    "debconf",
    "cdebconf",
    "debconf-i18n",
    # what maintainer scripts are written in or call
    "perl-base",
    "tar",
    "debianutils",
    "init-system-helpers",
    "install-info",
    "ucf",
    "sensible-utils",
    "adduser",
    "passwd",
    "lsb-base",
    "sysvinit-utils",
    "usr-is-merged",
    "usrmerge",
    # users and runtime directories made by scripts at install time
    "systemd-standalone-sysusers",
    "systemd-standalone-tmpfiles",
    "opensysusers",
)

#: In a spec's ``management_packages:`` list, stands for :data:`DEFAULT_MANAGEMENT`.
DEFAULT_MARKER = "default"


def management_list(given: Sequence[str] | None) -> tuple[str, ...]:
    """The effective list: the default when not given, ``default`` entries expanded."""
    if given is None:
        return DEFAULT_MANAGEMENT
    out: list[str] = []
    for name in given:
        for item in DEFAULT_MANAGEMENT if name == DEFAULT_MARKER else (name,):
            if item not in out:
                out.append(item)
    return tuple(out)


#: The ``status.d`` field listing the dependencies of a package left unsatisfied on
#: purpose (comma-separated relations); the SBOM reports it.
UNSATISFIED_FIELD = "Distroless-Unsatisfied"
