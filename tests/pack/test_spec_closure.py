"""``closure: true`` on a spec's file item."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from distroless.assemble.spec_build import build_spec
from distroless.errors import SpecError
from distroless.oci.models import Platform
from distroless.spec import parse_spec
from distroless.store import Store
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import from_store


def test_closure_needs_a_src_file(tmp_path: Path) -> None:
    spec = tmp_path / "image.yaml"
    text = "files:\n  - dst: /a\n    content: hi\n    closure: true\n"
    with pytest.raises(SpecError, match=r"image.yaml:2: .*'/a': closure needs a src file"):
        parse_spec(text, spec)
    (tmp_path / "app").write_bytes(b"\x7fELF")
    parsed = parse_spec("files:\n  - {src: app, dst: /app, closure: true}\n", spec)
    assert parsed.files[0].closure


def test_a_host_program_brings_its_libraries_and_their_packages(tmp_path: Path) -> None:
    ls = shutil.which("ls")
    if ls is None or Platform.host().architecture != "amd64":
        pytest.skip("needs a dynamically linked ls on an amd64 host")
    (tmp_path / "ls").write_bytes(Path(ls).read_bytes())
    spec = parse_spec(
        "files:\n  - {src: ls, dst: /ls, mode: 0755, closure: true}\nentrypoint: [/ls]\n",
        tmp_path / "image.yaml",
    )
    store = Store(tmp_path / "store")
    platform = Platform("linux", "amd64")
    desc = build_spec(store, spec, platforms=[platform])
    store.tag("ls:1", desc)
    fs = FileSystemView.from_image(from_store(store, "ls:1", platform))
    assert fs.get("/ls") is not None
    libc = fs.lookup("/lib64/ld-linux-x86-64.so.2")
    assert libc is not None and libc.is_file
    assert fs.get("/var/lib/dpkg/status.d/libc6") is not None
    # the copy made on the host is no part of the image: only /ls is
    assert fs.get(str(tmp_path / "ls")) is None
