"""Small images written into a temporary store, for the verifiers' tests.

Layers are written by the project's own layer writer (deterministic tars), so the images
look exactly like built ones: ``status.d`` entries, md5sums lists, copyright files, users.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from distroless import pem
from distroless.layers.build import write_layer
from distroless.layers.entry import Entry
from distroless.oci import mediatypes as mt
from distroless.oci.models import (
    ContainerConfig,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    Platform,
)
from distroless.store import Store
from distroless.verify.image import ImageHandle, from_store

PASSWD = (
    b"root:x:0:0:root:/root:/sbin/nologin\n"
    b"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    b"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
)
OS_RELEASE = (
    b'PRETTY_NAME="Distroless"\nNAME="Debian GNU/Linux"\nID="debian"\n'
    b'VERSION_ID="13"\nVERSION="Debian GNU/Linux 13 (trixie)"\n'
)
PLATFORM = Platform("linux", "amd64")
#: one PEM block, enough for the bundle not to count as empty
CA_BUNDLE = pem.encode("CERTIFICATE", b"\x30\x03\x02\x01\x00")


def copyright_text(*licenses: str) -> bytes:
    """A machine-readable (DEP-5) copyright file naming ``licenses``."""
    head = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
    body = "".join(
        f"Files: part{i}/*\nCopyright: 2020 Someone\nLicense: {lic}\n\n"
        for i, lic in enumerate(licenses)
    )
    texts = "".join(f"License: {lic}\n Text of {lic}.\n\n" for lic in licenses)
    return (head + body + texts).encode()


def package_entries(
    name: str,
    version: str,
    files: Mapping[str, bytes],
    *,
    arch: str = "amd64",
    source: str | None = None,
    licenses: Sequence[str] = ("GPL-2+",),
    md5sums: bool = True,
    extra_fields: Mapping[str, str] | None = None,
) -> list[Entry]:
    """The entries one package's layer holds: its files, status.d paragraph, md5sums, copyright."""
    control = f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
    control += "Maintainer: Debian Team <team@example.org>\n"
    if source:
        control += f"Source: {source}\n"
    for key, value in (extra_fields or {}).items():
        control += f"{key}: {value}\n"
    control += f"Description: the {name} package\n"
    entries = [
        Entry.file(path, data, mode=0o755 if "bin/" in path else 0o644)
        for path, data in files.items()
    ]
    copyright_path = f"usr/share/doc/{name}/copyright"
    entries.append(Entry.file(copyright_path, copyright_text(*licenses)))
    entries.append(Entry.file(f"var/lib/dpkg/status.d/{name}", control.encode()))
    if md5sums:
        listed = {**files, copyright_path: copyright_text(*licenses)}
        lines = "".join(
            f"{hashlib.md5(data).hexdigest()}  {path.lstrip('/')}\n"
            for path, data in sorted(listed.items())
        )
        entries.append(Entry.file(f"var/lib/dpkg/status.d/{name}.md5sums", lines.encode()))
    return entries


def base_entries() -> list[Entry]:
    """What every fake base has: root links, passwd, os-release, /tmp, CA bundle, tzdata."""
    return [
        Entry.directory("tmp", mode=0o1777),
        Entry.directory("root", mode=0o700),
        Entry.directory("home/nonroot", mode=0o700, uid=65532, gid=65532),
        Entry.symlink("bin", "usr/bin"),
        Entry.symlink("lib", "usr/lib"),
        Entry.directory("usr/bin"),
        Entry.file("etc/passwd", PASSWD),
        Entry.file("etc/group", b"root:x:0:\nnonroot:x:65532:\n"),
        Entry.file("usr/lib/os-release", OS_RELEASE),
        Entry.symlink("etc/os-release", "../usr/lib/os-release"),
        Entry.file("etc/ssl/certs/ca-certificates.crt", CA_BUNDLE),
        Entry.file("usr/share/zoneinfo/UTC", b"TZif2"),
    ]


def make_image(
    root: Path,
    name: str,
    layers: Sequence[Sequence[Entry]],
    *,
    config: ContainerConfig | None = None,
    compression: str = "gzip",
    platform: Platform = PLATFORM,
) -> ImageHandle:
    """Write ``layers`` and a config into the store at ``root``, tag it ``name``."""
    store = Store(root)
    store.tag(name, _put_image(store, layers, config, compression, platform))
    return from_store(store, name, platform)


def make_index(
    root: Path,
    name: str,
    images: Mapping[Platform, Sequence[Sequence[Entry]]],
    *,
    config: ContainerConfig | None = None,
) -> Store:
    """An index tagged ``name`` with one image per platform, as a multi-arch build makes."""
    store = Store(root)
    manifests = tuple(
        _put_image(store, layers, config, "gzip", platform) for platform, layers in images.items()
    )
    store.tag(name, store.put_index(Index(manifests)))
    return store


def _put_image(
    store: Store,
    layers: Sequence[Sequence[Entry]],
    config: ContainerConfig | None,
    compression: str,
    platform: Platform,
) -> Descriptor:
    descs = []
    diff_ids = []
    for entries in layers:
        with store.write_blob() as writer:
            info = write_layer(list(entries), writer, compression)  # type: ignore[arg-type]
        descs.append(Descriptor(mt.layer_type_for("oci", info.compression), info.digest, info.size))
        diff_ids.append(info.diff_id)
    image_config = ImageConfig(
        architecture=platform.architecture,
        os=platform.os,
        variant=platform.variant,
        config=config or ContainerConfig(env=("PATH=/usr/bin:/bin",)),
        diff_ids=tuple(diff_ids),
    )
    config_bytes = image_config.to_bytes()
    config_digest = store.put_bytes(config_bytes)
    manifest = Manifest(
        config=Descriptor(mt.OCI_CONFIG, config_digest, len(config_bytes)), layers=tuple(descs)
    )
    return store.put_manifest(manifest, platform)
