"""The Python distributions an image holds outside Debian packages, from their ``.dist-info``.

Wheels installed by a spec's ``python:`` key, or copied in from a builder stage that ran
``pip install --target``, each leave a ``<name>-<version>.dist-info`` directory with
``METADATA`` (name and version) and ``RECORD``.  Debian's Python packages keep theirs
under ``/usr/lib/python3/dist-packages``; those are listed as Debian packages already, so
they are left out here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from distroless.verify.fsview import FileSystemView

#: where Debian's own Python packages (and the standard library) live
_DEBIAN_PREFIXES = ("/usr/lib/python3/", "/usr/lib/python3.")
_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


@dataclass(frozen=True)
class PythonDistribution:
    """One installed distribution: ``pkg:pypi/<name>@<version>``."""

    name: str
    version: str
    path: str  # the .dist-info directory
    record_sha256: str | None  # of RECORD, which lists every installed file's hash

    @property
    def purl_name(self) -> str:
        """The name as purl and PEP 503 normalise it (lowercase, runs of ``-_.`` to ``-``)."""
        return re.sub(r"[-_.]+", "-", self.name).lower()

    @property
    def purl(self) -> str:
        return f"pkg:pypi/{self.purl_name}@{self.version}"


def _field(metadata: str, name: str) -> str:
    for line in metadata.splitlines():
        if not line.strip():
            break  # the headers end at the first blank line; the description follows
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            return value.strip()
    return ""


def python_distributions(fs: FileSystemView) -> list[PythonDistribution]:
    """Every ``.dist-info`` with a METADATA naming a distribution, sorted by name."""
    dirs = sorted(
        node.path
        for node in fs.nodes()
        if node.is_dir
        and node.path.endswith(".dist-info")
        and not node.path.startswith(_DEBIAN_PREFIXES)
    )
    wanted = [f"{d}/METADATA" for d in dirs] + [f"{d}/RECORD" for d in dirs]
    contents = fs.read_many(wanted, limit=64 << 20)
    out = []
    for directory in dirs:
        metadata = contents.get(f"{directory}/METADATA")
        if metadata is None:
            continue
        text = metadata.decode("utf-8", errors="replace")
        name, version = _field(text, "Name"), _field(text, "Version")
        if not _NAME_RE.match(name) or not version:
            continue
        record = contents.get(f"{directory}/RECORD")
        sha = hashlib.sha256(record).hexdigest() if record is not None else None
        out.append(PythonDistribution(name, version, directory, sha))
    return sorted(out, key=lambda d: (d.purl_name, d.version, d.path))
