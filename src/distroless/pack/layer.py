"""A pack plan as layer entries: the copied files, their links, and a ``status.d`` per package.

The files are copied out of the source view once, in one batch (a stored image is read
layer by layer, not once per file), into a private temporary directory; the md5 of each is
taken while it is copied, so the ``status.d/<pkg>.md5sums`` written for the packed image
list exactly the files it holds, with digests of the bytes it holds.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from distroless.elf import FileKind, ImageView, lookup
from distroless.errors import BuildError
from distroless.layers.entry import Entry, EntryType
from distroless.pack.dpkgdb import STATUS_D, OwnedPackage, PackageDatabase
from distroless.pack.plan import PackPlan, include

_CHUNK = 1 << 20


@dataclass
class PackContent(AbstractContextManager["PackContent"]):
    """The plan's files copied out of the source, their owners, and the entries to write."""

    plan: PackPlan
    packages: dict[str, OwnedPackage] = field(default_factory=dict)
    #: package -> the packed paths it owns
    owned: dict[str, list[str]] = field(default_factory=dict)
    #: packed regular files no package owns (generated files such as the CA bundle)
    unowned: list[str] = field(default_factory=list)
    _copies: dict[str, tuple[Path, int, str]] = field(default_factory=dict)
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def copy_from(self, view: ImageView) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="distroless-pack-")
        wanted = self.plan.regular_files()
        for index, (path, stream) in enumerate(view.open_many(wanted)):
            copy = Path(self._tmp.name, str(index))
            digest = hashlib.md5(usedforsecurity=False)
            size = 0
            fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            self._copies[path] = (copy, size, digest.hexdigest())
        missing = [p for p in wanted if p not in self._copies]
        if missing:
            raise BuildError(f"cannot read {missing[0]} from the source to pack it")

    def attribute(self, db: PackageDatabase) -> None:
        """Each packed file and link to its package; directories are everyone's.

        A link to a directory (``/lib`` -> ``usr/lib``) counts as a directory: packages
        list the directories they put files in, not the link a merged /usr made of them.
        """
        self.packages.clear()
        self.owned.clear()
        self.unowned.clear()
        for path in sorted(self.plan.files):
            packed = self.plan.files[path]
            if packed.kind is FileKind.DIR:
                continue
            if packed.kind is FileKind.SYMLINK:
                found = lookup(db.view, path)
                if found is None or found[1].kind is FileKind.DIR:
                    continue
            owner = db.owner(path)
            if owner is None:
                if packed.kind is FileKind.FILE:
                    self.unowned.append(path)
                continue
            self.packages[owner] = db.packages[owner]
            self.owned.setdefault(owner, []).append(path)

    def add_copyrights(self, view: ImageView) -> None:
        """The license of every package carried, as the distroless bases carry them."""
        for name in sorted(self.packages):
            include(view, self.plan, f"/usr/share/doc/{name}/copyright")

    def _file_entry(self, path: str, mode: int) -> Entry:
        copy, size, _md5 = self._copies[path]

        def opener() -> BinaryIO:
            return copy.open("rb")

        return Entry(path.lstrip("/"), EntryType.FILE, mode=mode, size=size, opener=opener)

    def entries(self) -> Iterator[Entry]:
        for path in sorted(self.plan.files):
            packed = self.plan.files[path]
            rel = path.lstrip("/")
            if packed.kind is FileKind.FILE:
                yield self._file_entry(path, packed.mode)
            elif packed.kind is FileKind.SYMLINK:
                yield Entry.symlink(rel, packed.linkname)
            elif rel:
                yield Entry.directory(rel, packed.mode)
        for name in sorted(self.packages):
            yield Entry.file(f"{STATUS_D}/{name}", self.packages[name].paragraph.encode())
            sums = "".join(
                f"{self._copies[p][2]}  {p.lstrip('/')}\n"
                for p in self.owned[name]
                if p in self._copies
            )
            yield Entry.file(f"{STATUS_D}/{name}.md5sums", sums.encode())


def pack_content(plan: PackPlan, view: ImageView, db: PackageDatabase | None = None) -> PackContent:
    """Copy the plan's files out of ``view`` and attribute them to its packages.

    ``db`` is ``view``'s package database when the caller already read it (several packs
    from one source).  Use the result as a context manager: the copies live until it exits.
    """
    content = PackContent(plan)
    try:
        db = db or PackageDatabase(view)
        content.attribute(db)
        content.add_copyrights(view)
        content.attribute(db)
        content.copy_from(view)
    except BaseException:
        content.__exit__(None, None, None)
        raise
    return content
