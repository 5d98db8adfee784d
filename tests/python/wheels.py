"""Small wheels made in tests: a package, its dist-info, optional console scripts."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(
    directory: Path,
    name: str = "demo",
    version: str = "1.0",
    files: dict[str, bytes] | None = None,
    scripts: dict[str, str] | None = None,
) -> Path:
    """A valid wheel ``<name>-<version>-py3-none-any.whl`` with a correct RECORD."""
    info = f"{name}-{version}.dist-info"
    members: dict[str, bytes] = dict(
        files if files is not None else {f"{name}/__init__.py": b"VALUE = 42\n"}
    )
    members[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nA demo.\n".encode()
    )
    members[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    if scripts:
        lines = "".join(f"{k} = {v}\n" for k, v in scripts.items())
        members[f"{info}/entry_points.txt"] = f"[console_scripts]\n{lines}".encode()
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in members.items())
    record += f"{info}/RECORD,,\n"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, data in members.items():
            zf.writestr(member, data)
        zf.writestr(f"{info}/RECORD", record)
    return path
