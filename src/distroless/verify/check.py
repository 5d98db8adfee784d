"""The distroless policy, and whether the image's programs would start.

An image is distroless when an attacker who gets code execution in it finds no shell to
spawn, no package manager to fetch tools with, no setuid binary to escalate through and
no world-writable place outside ``/tmp`` to drop files into, and when its packages are
visible to scanners.  It is useful when its command starts: the program is there, the
image's user may execute it, and the loader finds every library and symbol version it
needs (:mod:`distroless.verify.runnable`), and when the trust anchors TLS needs are there
(:mod:`distroless.verify.trust`).  :func:`check_image` reports each violation as a
*finding* (the image fails) and each thing worth knowing as a *note*; every item names
the path it is about.

The verdict depends on the image's content and config only, never on the name it was
looked up by: a debug image is one whose tools are busybox's under ``/busybox``, not one
whose tag says ``debug``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from distroless.layers.entry import EntryType
from distroless.verify.access import image_identity
from distroless.verify.findings import Finding, Severity, finding, note
from distroless.verify.fsview import FileSystemView, Node
from distroless.verify.image import ImageHandle
from distroless.verify.packages import (
    DOC_DIR,
    DPKG_STATUS,
    STATUS_DIR,
    md5sums_lists,
    status_entries,
)
from distroless.verify.runnable import runnable_findings
from distroless.verify.suggest import NoHints, PackageHints
from distroless.verify.trust import empty_ca_bundle, java_trust_stores, no_ca_bundle

__all__ = ["CheckReport", "FileSize", "Finding", "LayerSize", "Severity", "check_image"]

SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "busybox"})
PACKAGE_MANAGERS = frozenset({"apt", "apt-get", "dpkg", "apk", "yum", "dnf", "rpm", "microdnf"})
PYTHON_INSTALLERS = frozenset({"pip", "pip3"})
ZONEINFO = "/usr/share/zoneinfo"
NONROOT_UID = 65532
DEBUG_TOOLS_DIR = "/busybox"
DEBUG_BUSYBOX = "/busybox/busybox"
MAX_UNOWNED_NOTES = 20


@dataclass(frozen=True)
class LayerSize:
    index: int
    digest: str
    size: int
    content_bytes: int
    entries: int


@dataclass(frozen=True)
class FileSize:
    path: str
    size: int
    layer: int


@dataclass(frozen=True)
class CheckReport:
    image: str
    digest: str
    user: str
    items: tuple[Finding, ...]
    layers: tuple[LayerSize, ...]
    largest: tuple[FileSize, ...]
    total_size: int = field(default=0)
    #: ``os/arch[/variant]`` of the image checked
    platform: str = ""

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.items if f.severity is Severity.FINDING)

    @property
    def notes(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.items if f.severity is Severity.NOTE)

    @property
    def passed(self) -> bool:
        return not self.findings

    def kinds(self) -> set[str]:
        return {f.kind for f in self.items}

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "digest": self.digest,
            "platform": self.platform,
            "user": self.user,
            "passed": self.passed,
            "findings": [f.to_dict() for f in self.findings],
            "notes": [f.to_dict() for f in self.notes],
            "layers": [asdict(x) for x in self.layers],
            "largest": [asdict(x) for x in self.largest],
            "total_size": self.total_size,
        }


# -- individual rules ----------------------------------------------------------------------


def _is_executable(fs: FileSystemView, node: Node) -> bool:
    if node.is_symlink:
        target = fs.lookup(node.path)
        return target is not None and target.is_file and bool(target.mode & 0o111)
    return node.is_file and bool(node.mode & 0o111)


def _executables_named(fs: FileSystemView, names: frozenset[str]) -> Iterable[Node]:
    for node in fs.nodes():
        if posixpath.basename(node.path) in names and _is_executable(fs, node):
            yield node


def _is_debug_tool(fs: FileSystemView, node: Node) -> bool:
    """Busybox of the debug tools, or one of its applet links, under ``/busybox``.

    This is how a debug image is told from others: by what it holds, not by its tag.
    """
    if not node.path.startswith(DEBUG_TOOLS_DIR + "/"):
        return False
    target = fs.resolve(node.path)
    if target is None or target != DEBUG_BUSYBOX:
        return False
    busybox = fs.get(DEBUG_BUSYBOX)
    return busybox is not None and busybox.type is EntryType.FILE


def _shells(fs: FileSystemView) -> Iterable[Finding]:
    for node in _executables_named(fs, SHELLS):
        name = posixpath.basename(node.path)
        if _is_debug_tool(fs, node):
            yield Finding(
                "debug-shell",
                Severity.NOTE,
                node.path,
                f"{node.path} is the {name} of the debug tools (busybox under /busybox)",
            )
        else:
            yield Finding("shell", Severity.FINDING, node.path, f"shell {name} at {node.path}")


def _package_managers(fs: FileSystemView) -> Iterable[Finding]:
    for node in _executables_named(fs, PACKAGE_MANAGERS):
        name = posixpath.basename(node.path)
        if _is_debug_tool(fs, node):
            # busybox's applets include dpkg and rpm; they come with the debug shell
            yield Finding(
                "debug-package-manager",
                Severity.NOTE,
                node.path,
                f"{node.path} is busybox's {name} applet (debug tools under /busybox)",
            )
            continue
        yield Finding(
            "package-manager",
            Severity.FINDING,
            node.path,
            f"package manager {name} at {node.path}",
        )
    for node in _executables_named(fs, PYTHON_INSTALLERS):
        yield Finding(
            "pip",
            Severity.NOTE,
            node.path,
            f"Python installer {posixpath.basename(node.path)} at {node.path}",
        )
    status = fs.lookup(DPKG_STATUS)
    if status is not None and status.is_file:
        yield Finding(
            "dpkg-database",
            Severity.FINDING,
            DPKG_STATUS,
            f"{DPKG_STATUS} is present: the image carries a package manager database",
        )


def _special_bits(fs: FileSystemView) -> Iterable[Finding]:
    for node in fs.nodes():
        if not node.is_file:
            continue
        if node.mode & 0o4000:
            yield Finding(
                "setuid", Severity.FINDING, node.path, f"{node.path} is setuid ({node.mode:04o})"
            )
        if node.mode & 0o2000:
            yield Finding(
                "setgid", Severity.FINDING, node.path, f"{node.path} is setgid ({node.mode:04o})"
            )
        if node.capabilities:
            yield Finding(
                "file-capabilities",
                Severity.FINDING,
                node.path,
                f"{node.path} carries file capabilities (security.capability)",
            )


def _world_writable(fs: FileSystemView) -> Iterable[Finding]:
    for node in fs.nodes():
        if node.is_symlink or not node.mode & 0o002:
            continue
        if node.path == "/tmp" or node.path.startswith("/tmp/"):
            continue
        if node.is_dir and node.mode & 0o1000:
            yield Finding(
                "world-writable-sticky",
                Severity.NOTE,
                node.path,
                f"{node.path} is world-writable with the sticky bit ({node.mode:04o})",
            )
            continue
        what = "directory" if node.is_dir else "file"
        yield Finding(
            "world-writable",
            Severity.FINDING,
            node.path,
            f"{what} {node.path} is world-writable ({node.mode:04o})",
        )


def _user(fs: FileSystemView, image: ImageHandle) -> Iterable[Finding]:
    user = image.config.config.user
    shown = user or "(empty)"
    identity = image_identity(fs, user)
    if isinstance(identity, str):
        yield finding("unknown-user", "/etc/passwd", f"default user {shown}: {identity}")
        return
    if identity.is_root:
        yield note(
            "root-user",
            "/etc/passwd",
            f"default user is root (user {shown}); run as {NONROOT_UID} (nonroot) where possible",
        )


def _data_files(fs: FileSystemView) -> Iterable[Finding]:
    yield from no_ca_bundle(fs)
    zone = fs.lookup(ZONEINFO)
    if zone is None or not zone.is_dir:
        yield Finding("no-tzdata", Severity.NOTE, ZONEINFO, f"no time zone data at {ZONEINFO}")


def _packages(fs: FileSystemView) -> Iterable[Finding]:
    entries = status_entries(fs)
    if not entries:
        if fs.listdir("/usr"):
            yield Finding(
                "no-package-metadata",
                Severity.NOTE,
                STATUS_DIR,
                f"no {STATUS_DIR} entries: scanners cannot see what /usr holds",
            )
        return
    for entry in entries:
        package = posixpath.basename(entry)
        copyright_path = f"{DOC_DIR}/{package}/copyright"
        node = fs.lookup(copyright_path)
        if node is None or not node.is_file:
            yield Finding(
                "no-copyright",
                Severity.NOTE,
                copyright_path,
                f"package {package} ships no license: {copyright_path} is missing",
            )
    owned: set[str] = set()
    lists = md5sums_lists(fs, [posixpath.basename(e) for e in entries])
    for entry in entries:
        package = posixpath.basename(entry)
        listed = lists[package]
        if listed is None:
            yield Finding(
                "no-md5sums",
                Severity.NOTE,
                entry,
                f"package {package} has no {STATUS_DIR}/{package}.md5sums",
            )
            continue
        for path in listed:
            parent = fs.resolve(posixpath.dirname(path)) or posixpath.dirname(path)
            owned.add(posixpath.join(parent, posixpath.basename(path)))
    unowned = []
    for node in fs.nodes():
        if node.path.startswith("/usr/") and node.is_file and node.path not in owned:
            parent = fs.resolve(posixpath.dirname(node.path)) or posixpath.dirname(node.path)
            if posixpath.join(parent, posixpath.basename(node.path)) not in owned:
                unowned.append(node.path)
    for path in unowned[:MAX_UNOWNED_NOTES]:
        yield Finding(
            "unowned-file",
            Severity.NOTE,
            path,
            f"{path} belongs to no package's md5sums list",
        )
    if len(unowned) > MAX_UNOWNED_NOTES:
        rest = unowned[MAX_UNOWNED_NOTES:]
        yield Finding(
            "unowned-file",
            Severity.NOTE,
            rest[0],
            f"{len(rest)} more files under /usr, from {rest[0]}, belong to no package",
        )


# -- sizes ---------------------------------------------------------------------------------


def _layer_sizes(image: ImageHandle, fs: FileSystemView) -> tuple[LayerSize, ...]:
    out = []
    for index, desc in enumerate(image.layers):
        entries, content = fs.layer_stats[index] if index < len(fs.layer_stats) else (0, 0)
        out.append(LayerSize(index, desc.digest, desc.size, content, entries))
    return tuple(out)


def largest_files(fs: FileSystemView, count: int) -> tuple[FileSize, ...]:
    files = [n for n in fs.nodes() if n.type is EntryType.FILE]
    files.sort(key=lambda n: (-n.size, n.path))
    return tuple(FileSize(n.path, n.size, n.layer) for n in files[:count])


def check_image(
    image: ImageHandle,
    fs: FileSystemView | None = None,
    *,
    largest: int = 10,
    runnable: bool = True,
    hints: Callable[[], PackageHints] = NoHints,
) -> CheckReport:
    """Check ``image``; pass ``fs`` to reuse an existing view.

    ``runnable=False`` applies the distroless policy alone, without following the command
    and the programs' libraries.  ``hints`` makes the package hints for missing libraries
    (see :mod:`distroless.verify.suggest`); it is called only when one is missing.
    """
    view = fs if fs is not None else FileSystemView.from_image(image)
    items: list[Finding] = []
    for rule in (_shells(view), _package_managers(view), _special_bits(view)):
        items.extend(rule)
    items.extend(_world_writable(view))
    items.extend(_user(view, image))
    items.extend(_data_files(view))
    items.extend(_packages(view))
    if runnable:
        items.extend(empty_ca_bundle(view))
        items.extend(java_trust_stores(view))
        items.extend(runnable_findings(view, image, hints))
    layers = _layer_sizes(image, view)
    return CheckReport(
        image=image.name,
        digest=image.digest,
        user=image.config.config.user,
        items=tuple(sorted(items, key=lambda f: (f.severity.value, f.kind, f.path, f.message))),
        layers=layers,
        largest=largest_files(view, largest),
        total_size=sum(x.size for x in layers),
        platform=str(image.config.platform),
    )
