"""Hand-made tar streams, including ones the project's own writer would never produce.

Each member is written exactly as told (``../`` names, device nodes, links out of the
root, PAX records), so tests can aim at the readers and appliers.  For layers an honest
producer would write, use the project's writer (``distroless.layers.build.write_layer``).
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field


@dataclass
class Member:
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


def tar_of(members: list[Member], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """The tar holding ``members`` in the given order; only regular files carry data."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
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
            if m.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(m.data)
                tar.addfile(info, io.BytesIO(m.data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def docker_archive(
    layer: bytes, diff_id: str, *, tag: str = "legacy:1", layer_name: str = "l/layer.tar"
) -> bytes:
    """A docker-archive in the legacy layout (``manifest.json``, a config, a layer file)
    holding one uncompressed ``layer`` whose config claims ``diff_id``, true or not."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    manifest = json.dumps([{"Config": "cfg.json", "RepoTags": [tag], "Layers": [layer_name]}])
    return tar_of(
        [
            Member("cfg.json", data=config),
            Member(layer_name, data=layer),
            Member("manifest.json", data=manifest.encode()),
        ]
    )
