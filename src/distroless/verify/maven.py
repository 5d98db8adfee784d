"""Maven coordinates inside jars: ``META-INF/maven/<group>/<artifact>/pom.properties``.

Maven writes that file into every jar it builds, and shading plugins keep the files of the
jars they merge, so one jar may name several artifacts.  Spring Boot and WAR files nest
whole jars (``BOOT-INF/lib/*.jar``, ``WEB-INF/lib/*.jar``); those are opened one level deep.

A zip is read from its central directory at the end, so a jar met while streaming a layer is
spooled (to memory, then to a temporary file past a few megabytes) and read when complete.
Everything in it is untrusted: entries are read up to small bounds, never extracted.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

JAR_SUFFIXES = (".jar", ".war", ".ear")
#: jars larger than this are not spooled (their coordinates are not read)
MAX_JAR_BYTES = 1 << 30
_MAX_NESTED_BYTES = 256 << 20
_MAX_PROPERTIES = 64 << 10
_MAX_ENTRIES = 200_000
_SPOOL_IN_MEMORY = 8 << 20
_POM = re.compile(r"^META-INF/maven/[^/]+/[^/]+/pom\.properties$")


@dataclass(frozen=True)
class MavenArtifact:
    group_id: str
    artifact_id: str
    version: str
    #: where inside the jar it was found: "" for the jar itself, else the nested jar's name
    nested: str = ""


def parse_properties(text: str) -> dict[str, str]:
    """``key=value`` (or ``key: value``) lines of a Java properties file; comments skipped."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"^([^=:\s]+)\s*[=:]?\s*(.*)$", line)
        if match:
            out[match[1]] = match[2].strip()
    return out


def _artifacts(archive: zipfile.ZipFile, nested: str) -> list[MavenArtifact]:
    found = []
    for info in archive.infolist()[:_MAX_ENTRIES]:
        if not _POM.match(info.filename) or info.file_size > _MAX_PROPERTIES:
            continue
        with archive.open(info) as fh:
            text = fh.read(_MAX_PROPERTIES + 1)[:_MAX_PROPERTIES].decode("utf-8", "replace")
        props = parse_properties(text)
        group, artifact, version = (props.get(k, "") for k in ("groupId", "artifactId", "version"))
        if group and artifact and version:
            found.append(MavenArtifact(group, artifact, version, nested))
    return found


def read_jar(stream: BinaryIO, *, depth: int = 0) -> list[MavenArtifact]:
    """The artifacts a (seekable) jar names, its nested jars' included; [] for a bad zip."""
    try:
        with zipfile.ZipFile(stream) as archive:
            found = _artifacts(archive, "")
            if depth:
                return found
            for info in archive.infolist()[:_MAX_ENTRIES]:
                name = info.filename
                if not name.endswith(".jar") or info.file_size > _MAX_NESTED_BYTES:
                    continue
                with (
                    tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY) as spool,
                    archive.open(info) as inner,
                ):
                    while chunk := inner.read(1 << 20):
                        spool.write(chunk)
                    spool.seek(0)
                    for item in read_jar(spool, depth=1):  # type: ignore[arg-type]
                        found.append(
                            MavenArtifact(item.group_id, item.artifact_id, item.version, name)
                        )
            return found
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError):
        return []
    except (ValueError, RuntimeError, KeyError):  # encrypted or otherwise unreadable members
        return []


class JarProbe:
    """Fed the bytes of one jar in order; :meth:`result` reads its coordinates at the end."""

    def __init__(self, size: int) -> None:
        self.active = 0 < size <= MAX_JAR_BYTES
        self._spool: BinaryIO | None = None
        if self.active:
            # closed by result(), which the scan calls once the jar's bytes are all in
            self._spool = tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY)  # type: ignore[assignment]  # noqa: SIM115

    def feed(self, chunk: bytes) -> None:
        if self._spool is not None:
            self._spool.write(chunk)

    def result(self) -> list[MavenArtifact]:
        if self._spool is None:
            return []
        try:
            self._spool.seek(0)
            return read_jar(self._spool)
        finally:
            self._spool.close()
            self._spool = None


__all__ = ["JAR_SUFFIXES", "JarProbe", "MavenArtifact", "parse_properties", "read_jar"]
