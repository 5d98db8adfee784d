"""Wheels installed with pypa/installer into layer entries."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from distroless.errors import PythonPackageError
from distroless.layers.entry import EntryType
from distroless.python.install import wheel_entries
from distroless.python.resolve import LockedWheel
from distroless.python.target import PythonTarget
from tests.python.wheels import make_wheel

TARGET = PythonTarget("3.13", (2, 41), "amd64")
SITE = "usr/local/lib/python3.13/dist-packages"


def _locked(path: Path) -> tuple[LockedWheel, dict[str, Path]]:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return LockedWheel("demo", "1.0", path.name, path.as_uri(), sha), {sha: path}


def test_files_scripts_record_and_installer(tmp_path: Path) -> None:
    wheel, paths = _locked(make_wheel(tmp_path, scripts={"demo": "demo:main"}))
    entries = {e.path: e for e in wheel_entries(TARGET, [wheel], paths)}
    assert entries[f"{SITE}/demo/__init__.py"].open().read() == b"VALUE = 42\n"
    record = entries[f"{SITE}/demo-1.0.dist-info/RECORD"].open().read().decode()
    assert "demo/__init__.py,sha256=" in record and "../../../bin/demo,sha256=" in record
    assert entries[f"{SITE}/demo-1.0.dist-info/INSTALLER"].open().read() == b"distroless\n"
    script = entries["usr/local/bin/demo"]
    assert script.mode == 0o755
    assert script.open().read().startswith(b"#!/usr/bin/python3.13\n")
    assert not any(p.endswith(".pyc") for p in entries)  # no bytecode, by design
    assert {e.mode for e in entries.values() if e.type is EntryType.DIR} == {0o755}
    assert {(e.uid, e.gid) for e in entries.values()} == {(0, 0)}


def test_the_staging_tree_goes_with_the_entries(tmp_path: Path) -> None:
    wheel, paths = _locked(make_wheel(tmp_path))
    entries = list(wheel_entries(TARGET, [wheel], paths))
    opener_holder = next(e for e in entries if e.path.endswith("__init__.py"))
    assert opener_holder.open().read()
    del entries, opener_holder
    import gc

    gc.collect()
    assert not list(Path(__import__("tempfile").gettempdir()).glob("distroless-wheels-*/usr"))


def test_a_wheel_escaping_site_packages_is_refused(tmp_path: Path) -> None:
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    path = make_wheel(tmp_path, files={"../../../../../../../decoy/owned": b"x"})
    wheel, paths = _locked(path)
    with pytest.raises(PythonPackageError, match="outside purelib|cannot be installed"):
        list(wheel_entries(TARGET, [wheel], paths))
    assert not (decoy / "owned").exists()


def test_a_wheel_whose_record_lies_is_refused(tmp_path: Path) -> None:
    good = make_wheel(tmp_path)
    bad = tmp_path / "bad" / good.name
    bad.parent.mkdir()
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, b"VALUE = 666\n" if item.filename == "demo/__init__.py" else data)
    wheel, paths = _locked(bad)
    with pytest.raises(PythonPackageError, match="cannot be installed"):
        list(wheel_entries(TARGET, [wheel], paths))


def test_two_wheels_writing_one_file(tmp_path: Path) -> None:
    first = make_wheel(tmp_path / "", "demo", "1.0")
    other_dir = tmp_path / "o"
    other_dir.mkdir()
    second = make_wheel(other_dir, "other", "2.0", files={"demo/__init__.py": b"x"})
    wheels, paths = [], {}
    for p in (first, second):
        w, m = _locked(p)
        wheels.append(w)
        paths.update(m)
    with pytest.raises(PythonPackageError, match="installs a file another wheel installed"):
        list(wheel_entries(TARGET, wheels, paths))
