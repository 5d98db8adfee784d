"""Wheels installed into the image's site-packages, as the entries of one layer.

pypa/installer does the installing (it knows the wheel format: ``.data`` directories,
console scripts, ``RECORD``) into a private staging directory laid out as the image's
root; the staging tree then becomes layer entries with fixed owners and modes, so the
layer depends only on the wheels.  Each ``.dist-info`` keeps its ``RECORD`` (with the
installed files' hashes) and an ``INSTALLER`` file, which is what SBOM tools and
``pip list`` read.  No ``.pyc`` is written: compiling would need the image's own
interpreter, and Python compiles what it imports on first use when it can write there,
or runs from source when it cannot (docs/python.md).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import weakref
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.records import InvalidRecordEntry
from installer.sources import WheelFile
from installer.utils import Scheme

from distroless.errors import PythonPackageError
from distroless.layers.entry import Entry, EntryType
from distroless.layers.fromdir import entries_from_directory
from distroless.python.resolve import LockedWheel
from distroless.python.target import PythonTarget
from distroless.rootpath import host_path_in_root

#: bump when what an install writes changes, so cached layers are made again
INSTALL_VERSION = "1"
INSTALLER_NAME = b"distroless\n"


class _StagedDestination(SchemeDictionaryDestination):
    """installer's destination, with every image path placed through the one resolver."""

    def _path_with_destdir(self, scheme: Scheme, path: str) -> Path:
        assert self.destdir is not None
        image_path = os.path.normpath(os.path.join(self.scheme_dict[scheme], path))
        if not image_path.startswith(self.scheme_dict[scheme].rstrip("/") + "/"):
            raise PythonPackageError(f"wheel file {path!r} would be written outside {scheme}")
        return host_path_in_root(Path(self.destdir), image_path, follow_last=False)


def install_wheels(
    target: PythonTarget, wheels: Sequence[LockedWheel], paths: Mapping[str, Path], root: Path
) -> None:
    """Install ``wheels`` (their files at ``paths``, by sha256) under the staging ``root``."""
    destination = _StagedDestination(
        target.scheme(),
        interpreter=target.interpreter,
        script_kind="posix",
        bytecode_optimization_levels=(),
        destdir=str(root),
    )
    for wheel in wheels:
        what = f"wheel {wheel.filename}"
        try:
            with WheelFile.open(paths[wheel.sha256]) as source:
                source.validate_record()
                install(source, destination, {"INSTALLER": INSTALLER_NAME})
        except FileExistsError as exc:
            raise PythonPackageError(
                f"{what} installs a file another wheel installed: {exc}"
            ) from None
        except (InstallerError, InvalidRecordEntry, zipfile.BadZipFile, ValueError) as exc:
            raise PythonPackageError(f"{what} cannot be installed: {exc}") from None
        except OSError as exc:
            raise PythonPackageError(f"{what} cannot be installed: {exc.strerror or exc}") from None


class _Staging:
    """The staging tree; removed once no entry reading from it is left.

    The layer writer sorts entries before it reads any file, so the tree must outlive
    the generator that lists it: every file entry's opener holds this object.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="distroless-wheels-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self.root, ignore_errors=True)

    def remove(self) -> None:
        self._finalizer()


def _normalized(entry: Entry, staging: _Staging) -> Entry:
    """Owner root, modes 0755/0644: nothing of the staging machine's umask stays."""
    if entry.type is EntryType.DIR:
        return dataclasses.replace(entry, mode=0o755, uid=0, gid=0)
    if entry.type is EntryType.FILE:
        mode = 0o755 if entry.mode & 0o111 else 0o644
        opener = entry.opener

        def open_file() -> BinaryIO:
            assert opener is not None and staging.root.is_dir()
            return opener()

        return dataclasses.replace(entry, mode=mode, uid=0, gid=0, opener=open_file)
    return dataclasses.replace(entry, uid=0, gid=0)


def wheel_entries(
    target: PythonTarget, wheels: Sequence[LockedWheel], paths: Mapping[str, Path]
) -> Iterator[Entry]:
    """The layer entries of ``wheels`` installed for ``target``.

    The staging tree goes when the last entry is dropped (or at once on an error).
    """
    staging = _Staging()
    try:
        install_wheels(target, wheels, paths, staging.root)
    except BaseException:
        staging.remove()
        raise
    top = staging.root / "usr"
    if top.is_dir():
        for entry in entries_from_directory(top, "/usr", uid=0, gid=0):
            yield _normalized(entry, staging)
