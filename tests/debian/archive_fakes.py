"""Small fakes for the Debian I/O tests: .debs built in Python, a signed fake archive, and a
local HTTP server (with Range support and a request log) that serves it."""

from __future__ import annotations

import hashlib
import http.server
import io
import lzma
import tarfile
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pysequoia

# A file's content (bytes), a symlink ("->target"), or a directory (None).
Files = Mapping[str, bytes | str | None]


def ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    out.write(b"!<arch>\n")
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}".encode() + b"`\n"
        assert len(header) == 60
        out.write(header)
        out.write(data)
        if len(data) % 2:
            out.write(b"\n")
    return out.getvalue()


def tar_bytes(files: Files, compression: str = "xz", mode: int = 0o644) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.mtime = 1_700_000_000
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif isinstance(content, str):
                info.type = tarfile.SYMTYPE
                info.linkname = content.removeprefix("->")
                info.mode = 0o777
                tar.addfile(info)
            else:
                info.size = len(content)
                info.mode = mode
                tar.addfile(info, io.BytesIO(content))
    data = raw.getvalue()
    if compression == "xz":
        return lzma.compress(data)
    if compression == "gz":
        import gzip

        return gzip.compress(data, mtime=0)
    if compression == "zst":
        from backports import zstd

        return bytes(zstd.compress(data))
    return data


def control_text(name: str, version: str = "1.0", arch: str = "amd64", extra: str = "") -> str:
    return (
        f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
        f"Maintainer: Test <test@test.invalid>\nDescription: test package {name}\n{extra}"
    )


def build_deb(
    path: Path,
    name: str,
    files: Files,
    *,
    version: str = "1.0",
    arch: str = "amd64",
    data_compression: str = "xz",
    control_compression: str = "xz",
    md5sums: str | None = None,
) -> Path:
    """Write a .deb at ``path`` the way dpkg-deb lays it out."""
    if md5sums is None:
        md5sums = "".join(
            f"{hashlib.md5(c).hexdigest()}  {p.removeprefix('./')}\n"
            for p, c in files.items()
            if isinstance(c, bytes)
        )
    control = tar_bytes(
        {
            "./": None,
            "./control": control_text(name, version, arch).encode(),
            "./md5sums": md5sums.encode(),
            "./postinst": b"#!/bin/sh\nexit 1\n",
        },
        control_compression,
    )
    cext = f".{control_compression}" if control_compression else ""
    dext = f".{data_compression}" if data_compression else ""
    data = tar_bytes(files, data_compression)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        ar_archive(
            [
                ("debian-binary", b"2.0\n"),
                (f"control.tar{cext}", control),
                (f"data.tar{dext}", data),
            ]
        )
    )
    return path


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FakeArchive:
    """A signed fake Debian archive laid out under ``root`` (``dists/`` and ``pool/``)."""

    root: Path
    key: pysequoia.Tsk
    keyfile: Path
    debs: dict[str, Path] = field(default_factory=dict)

    def publish(
        self,
        suite: str,
        arches: tuple[str, ...] = ("amd64",),
        *,
        valid_until: str | None = None,
        signer: pysequoia.Tsk | None = None,
        by_hash: bool = False,
    ) -> None:
        """Write Packages(.xz) for every arch from ``self.debs``, then Release + InRelease."""
        dist = self.root / "dists" / suite
        sums: list[tuple[str, bytes]] = []
        for arch in arches:
            paragraphs = []
            for name, deb in sorted(self.debs.items()):
                data = deb.read_bytes()
                rel = deb.relative_to(self.root).as_posix()
                paragraphs.append(
                    control_text(name, arch=arch)
                    + f"Filename: {rel}\nSize: {len(data)}\nSHA256: {sha256_hex(data)}\n"
                )
            text = "\n".join(paragraphs).encode()
            base = f"main/binary-{arch}/Packages"
            for rel_name, content in ((base, text), (base + ".xz", lzma.compress(text))):
                out = dist / rel_name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(content)
                sums.append((rel_name, content))
                if by_hash:
                    hashed = out.parent / "by-hash" / "SHA256" / sha256_hex(content)
                    hashed.parent.mkdir(parents=True, exist_ok=True)
                    hashed.write_bytes(content)
        release = (
            f"Origin: Test\nSuite: {suite}\nCodename: {suite}\n"
            "Date: Sat, 01 Nov 2025 10:00:00 UTC\n"
            + (f"Valid-Until: {valid_until}\n" if valid_until else "")
            + f"Architectures: {' '.join(arches)}\nComponents: main\n"
            + ("Acquire-By-Hash: yes\n" if by_hash else "")
            + "SHA256:\n"
            + "".join(f" {sha256_hex(c)} {len(c):>10} {n}\n" for n, c in sums)
        )
        (dist / "Release").write_text(release)
        key = signer or self.key
        signed = pysequoia.sign(key.signer(), release.encode(), mode=pysequoia.SignatureMode.CLEAR)
        (dist / "InRelease").write_bytes(signed)


def new_key(tmp: Path, name: str = "archive") -> tuple[pysequoia.Tsk, Path]:
    key = pysequoia.Tsk.generate(f"Test {name} <{name}@test.invalid>")
    keyfile = tmp / f"{name}.asc"
    keyfile.write_text(str(key.extract_certificate()))
    return key, keyfile


def make_archive(root: Path, keydir: Path) -> FakeArchive:
    key, keyfile = new_key(keydir)
    return FakeArchive(root, key, keyfile)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests[self.path] += 1
        target = (self.server.root / self.path.lstrip("/")).resolve()
        if not target.is_file() or self.server.root.resolve() not in target.parents:
            self.send_error(404)
            return
        data = target.read_bytes()
        start = 0
        status = 200
        header = self.headers.get("Range")
        if header:
            self.server.ranges.append(header)
        if header and header.startswith("bytes=") and self.server.honour_range:
            start = int(header[6:].split("-", 1)[0])
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if self.path in self.server.cut_once:
            # simulate a connection dropped halfway through the body
            self.server.cut_once.discard(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.requests: Counter[str] = Counter()
        self.honour_range = True
        self.cut_once: set[str] = set()
        self.ranges: list[str] = []


@dataclass
class Mirror:
    url: str
    server: _Server

    @property
    def requests(self) -> Counter[str]:
        return self.server.requests


@contextmanager
def serve(root: Path) -> Iterator[Mirror]:
    server = _Server(root)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield Mirror(f"http://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def listing(root: Path) -> list[str]:
    """Every path under ``root`` with its size, to compare cache states."""
    if not root.exists():
        return []
    return sorted(
        f"{p.relative_to(root)}:{p.stat().st_size if p.is_file() else 'dir'}"
        for p in root.rglob("*")
    )
