"""Tiny root filesystems as tar files, written with ``tarfile`` for ``docker import`` & co."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from pathlib import Path


def rootfs_tar(out: Path, files: Mapping[str, bytes | Path], *, mode: int = 0o755) -> Path:
    """Write a tar at ``out`` holding ``files`` (path in image -> content or host file).

    Parent directories are added, entries are sorted and owned by root with mtime 0, so the
    same ``files`` always give the same bytes.
    """
    dirs: set[str] = set()
    for name in files:
        parts = name.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for name in sorted(files):
            content = files[name]
            info = tarfile.TarInfo(name.strip("/"))
            info.mode, info.mtime = mode, 0
            if isinstance(content, Path):
                info.size = content.stat().st_size
                with content.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return out
