"""Builders for the archives the fuzz and hostile tests feed in: layers, .debs, image tars.

Each builder writes exactly what it is told, including what an honest writer never would
(``../`` names, device nodes, links out of the root), so tests can aim at the readers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
import tarfile

from backports import zstd

from tests.helpers.rawtar import Member, tar_of


def compress(data: bytes, kind: str) -> bytes:
    if kind == "gz":
        return gzip.compress(data, mtime=0)
    if kind == "xz":
        return lzma.compress(data)
    if kind == "zst":
        return bytes(zstd.compress(data))
    return data


LAYER_MEMBERS = [
    Member("etc", tarfile.DIRTYPE, mode=0o755),
    Member("etc/passwd", data=b"root:x:0:0:root:/root:/sbin/nologin\n"),
    Member("usr", tarfile.DIRTYPE, mode=0o755),
    Member("usr/bin", tarfile.DIRTYPE, mode=0o755),
    Member("usr/bin/app", data=b"\x7fELF" + bytes(range(256)), mode=0o755),
    Member("usr/bin/alias", tarfile.LNKTYPE, linkname="usr/bin/app"),
    Member("bin", tarfile.SYMTYPE, linkname="usr/bin"),
    Member("usr/lib/" + "d" * 120 + "/file", data=b"long"),
    Member("tmp/.wh..wh..opq"),
    Member("etc/.wh.shadow"),
    Member("run/fifo", tarfile.FIFOTYPE),
    Member("etc/x", data=b"x", pax={"SCHILY.xattr.user.k": "v"}),
]


def layer_tar(fmt: int = tarfile.PAX_FORMAT) -> bytes:
    return tar_of(LAYER_MEMBERS, fmt)


def ar_of(members: list[tuple[str, bytes]], sizes: dict[str, bytes] | None = None) -> bytes:
    """An ar archive; ``sizes`` overrides the size field of named members (to lie)."""
    out = io.BytesIO()
    out.write(b"!<arch>\n")
    for name, data in members:
        size = (sizes or {}).get(name, str(len(data)).encode())
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}".encode() + size.ljust(10) + b"`\n"
        out.write(header)
        out.write(data)
        if len(data) % 2:
            out.write(b"\n")
    return out.getvalue()


CONTROL = b"Package: pkg\nVersion: 1.0\nArchitecture: amd64\nDescription: test\n"
DATA_MEMBERS = [
    Member("./", tarfile.DIRTYPE, mode=0o755),
    Member("./bin/", tarfile.DIRTYPE, mode=0o755),
    Member("./bin/tool", data=b"#!tool\n", mode=0o755),
    Member("./bin/sh", tarfile.SYMTYPE, linkname="/bin/dash"),
    Member("./bin/again", tarfile.LNKTYPE, linkname="./bin/tool"),
    Member("./usr/", tarfile.DIRTYPE, mode=0o755),
    Member("./usr/share/doc/pkg/copyright", data=b"free\n"),
]


def deb_of(
    data_members: list[Member] | None = None,
    *,
    data_compression: str = "xz",
    control: bytes = CONTROL,
    fmt: int = tarfile.GNU_FORMAT,
) -> bytes:
    control_tar = tar_of(
        [Member("./control", data=control), Member("./md5sums", data=b"0" * 32 + b"  bin/tool\n")],
        fmt,
    )
    data_tar = tar_of(DATA_MEMBERS if data_members is None else data_members, fmt)
    suffix = f".{data_compression}" if data_compression else ""
    return ar_of(
        [
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", compress(control_tar, "gz")),
            (f"data.tar{suffix}", compress(data_tar, data_compression)),
        ]
    )


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_members(layer: bytes | None = None, *, tag: str = "fuzz:1") -> dict[str, bytes]:
    """The members of a combined docker-archive + OCI layout holding one image."""
    layer = layer_tar() if layer is None else layer
    blob = compress(layer, "gz")
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/usr/bin/app"]},
            "rootfs": {"type": "layers", "diff_ids": [sha(layer)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha(blob),
                    "size": len(blob),
                }
            ],
        }
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": sha(manifest),
                    "size": len(manifest),
                    "annotations": {
                        "org.opencontainers.image.ref.name": tag,
                        "io.containerd.image.name": "docker.io/library/" + tag,
                    },
                }
            ],
        }
    ).encode()
    docker = json.dumps(
        [
            {
                "Config": f"blobs/sha256/{sha(config)[7:]}",
                "RepoTags": [tag],
                "Layers": [f"blobs/sha256/{sha(blob)[7:]}"],
            }
        ]
    ).encode()
    return {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        f"blobs/sha256/{sha(config)[7:]}": config,
        f"blobs/sha256/{sha(blob)[7:]}": blob,
        f"blobs/sha256/{sha(manifest)[7:]}": manifest,
        "index.json": index,
        "manifest.json": docker,
    }


def archive_of(members: dict[str, bytes]) -> bytes:
    return tar_of([Member(name, data=data) for name, data in members.items()])
