"""Trust anchors that programs need at run time: the CA bundle and a JRE's trust store.

Both are files no loader asks for, so a closure cannot see them missing, yet without them
every TLS connection fails.  Debian makes both in maintainer scripts, which never run in
a distroless image: ``ca-certificates`` concatenates its certificates into
``/etc/ssl/certs/ca-certificates.crt`` (distroless builds generate that file), and
``ca-certificates-java`` writes ``/etc/ssl/certs/java/cacerts`` from it, which Debian's
JREs reach through ``<java.home>/lib/security/cacerts``.

A JRE is recognised by its ``libjvm.so`` (its home is the directory above ``lib``) or, for
a ``java`` launcher without one, by the launcher alone.  Java reads
``<java.home>/lib/security/jssecacerts`` first and then ``cacerts``; a JRE whose trust
store is neither, or is an empty file or a JKS store with no entry, can verify no server.
"""

from __future__ import annotations

import posixpath
import struct
from collections.abc import Iterator

from distroless.errors import DistrolessError
from distroless.pem import iter_blocks
from distroless.verify.findings import Finding, finding, note
from distroless.verify.fsview import FileSystemView

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
JAVA_CACERTS = "/etc/ssl/certs/java/cacerts"
_JKS_MAGIC = 0xFEEDFEED
_MAX_STORE = 64 << 20


def _certificates(fs: FileSystemView, path: str) -> int | str:
    """How many PEM certificates ``path`` holds, or why it cannot be read as a bundle."""
    try:
        data = fs.read_bytes(path, limit=_MAX_STORE)
        return sum(1 for b in iter_blocks(data, source=path) if b.label == "CERTIFICATE" and b.data)
    except DistrolessError as exc:
        return exc.message


def no_ca_bundle(fs: FileSystemView) -> Iterator[Finding]:
    node = fs.lookup(CA_BUNDLE)
    if node is None or not node.is_file:
        yield note("no-ca-bundle", CA_BUNDLE, f"no CA bundle at {CA_BUNDLE}")


def empty_ca_bundle(fs: FileSystemView) -> Iterator[Finding]:
    node = fs.lookup(CA_BUNDLE)
    if node is None or not node.is_file:
        return
    count = _certificates(fs, CA_BUNDLE)
    if isinstance(count, str):
        yield finding("empty-ca-bundle", CA_BUNDLE, f"the CA bundle is unreadable: {count}")
    elif count == 0:
        yield finding(
            "empty-ca-bundle",
            CA_BUNDLE,
            f"the CA bundle {CA_BUNDLE} holds no certificate: TLS clients can verify no server",
        )


def _store_problem(fs: FileSystemView, path: str) -> str | None:
    """Why the trust store at ``path`` (links followed) is unusable; None when it is fine."""
    node = fs.lookup(path)
    if node is None:
        target = fs.get(path)
        if target is not None and target.is_symlink:
            return f"{path} links to {target.linkname}, which does not exist"
        return f"{path} does not exist"
    if not node.is_file:
        return f"{path} is not a file"
    if node.size == 0:
        return f"{path} is empty"
    if node.size >= 12:
        try:
            with fs.open(path) as stream:
                magic, _version, count = struct.unpack(">III", stream.read(12))
        except (DistrolessError, struct.error):
            return None
        if magic == _JKS_MAGIC and count == 0:
            return f"{path} is a JKS store with no certificate"
    return None


def _java_homes(fs: FileSystemView) -> tuple[list[str], list[str]]:
    """The homes of the JREs found by their ``libjvm.so``, and ``java`` launchers without one."""
    homes: list[str] = []
    launchers: list[str] = []
    for node in fs.nodes():
        name = posixpath.basename(node.path)
        if name == "libjvm.so" and (node.is_file or node.is_symlink):
            # <home>/lib/server/libjvm.so, or Java 8's <home>/lib/<arch>/server/libjvm.so
            dirs = node.path.split("/")[:-1]
            libs = [i for i, part in enumerate(dirs) if part == "lib"]
            home = "/".join(dirs[: libs[-1]]) or "/" if libs else None
            if home is not None and home not in homes:
                homes.append(home)
        elif name == "java" and node.is_file and node.mode & 0o111:
            launchers.append(node.path)
    lonely = [j for j in launchers if not any(j.startswith(h + "/") for h in homes)]
    return homes, lonely


def java_trust_stores(fs: FileSystemView) -> Iterator[Finding]:
    homes, launchers = _java_homes(fs)
    for home in homes:
        security = posixpath.join(home, "lib/security")
        problems = []
        for name in ("jssecacerts", "cacerts"):
            problem = _store_problem(fs, f"{security}/{name}")
            if problem is None:
                break
            problems.append(problem)
        else:
            yield finding(
                "no-java-truststore",
                f"{security}/cacerts",
                f"the JRE at {home} has no trust store: {problems[-1]}; TLS from Java fails",
                missing=JAVA_CACERTS,
            )
    for launcher in launchers[:1]:
        problem = _store_problem(fs, JAVA_CACERTS)
        if problem is not None:
            yield finding(
                "no-java-truststore",
                JAVA_CACERTS,
                f"{launcher} has no JRE trust store: {problem}; TLS from Java fails",
                missing=JAVA_CACERTS,
            )
