"""Hand-made tar streams for tests, including ones our own writer would never produce."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field


@dataclass
class Raw:
    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    devmajor: int = 0
    devminor: int = 0
    pax: dict[str, str] = field(default_factory=dict)


def raw_tar(members: list[Raw]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type = m.type
            info.mode = m.mode
            info.uid = m.uid
            info.gid = m.gid
            info.mtime = m.mtime
            info.linkname = m.linkname
            info.devmajor = m.devmajor
            info.devminor = m.devminor
            info.pax_headers = dict(m.pax)
            if m.type == tarfile.REGTYPE:
                info.size = len(m.data)
                tar.addfile(info, io.BytesIO(m.data))
            else:
                tar.addfile(info)
    return buf.getvalue()
