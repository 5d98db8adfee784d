"""A spec's ``files: src:`` names are untrusted, as a Dockerfile's COPY sources are: they
come from the spec's directory and cannot reach the host through ``..``, an absolute name
or a symlink.  The decoy stands for a host file; it lives beside the spec directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from distroless.errors import SpecError
from distroless.spec.loader import load_spec


def _spec(tmp_path: Path, src: str) -> Path:
    directory = tmp_path / "spec"
    directory.mkdir(exist_ok=True)
    spec = directory / "image.yaml"
    spec.write_text(f"files:\n  - {{src: {src!r}, dst: /x}}\n")
    return spec


@pytest.fixture
def decoy(tmp_path: Path) -> Path:
    host = tmp_path / "host"
    host.mkdir()
    secret = host / "shadow"
    secret.write_text("host secret\n")
    return secret


@pytest.mark.parametrize("name", ["../host/shadow", "sub/../../host/shadow", ".."])
def test_a_name_that_climbs_out_of_the_spec_directory_is_refused(
    tmp_path: Path, decoy: Path, name: str
) -> None:
    with pytest.raises(SpecError, match="outside the spec's directory"):
        load_spec(_spec(tmp_path, name))


def test_an_absolute_host_name_is_refused(tmp_path: Path, decoy: Path) -> None:
    with pytest.raises(SpecError, match="outside the spec's directory"):
        load_spec(_spec(tmp_path, str(decoy)))


@pytest.mark.parametrize("target", ["absolute", "climbing"])
def test_a_link_out_of_the_spec_directory_resolves_inside_it(
    tmp_path: Path, decoy: Path, target: str
) -> None:
    spec = _spec(tmp_path, "leak")
    os.symlink(str(decoy) if target == "absolute" else "../host/shadow", spec.parent / "leak")
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(spec)
    # with a twin inside the spec directory, the link means the twin (as BuildKit reads a
    # context's links), never the host file
    twin = spec.parent / (str(decoy).lstrip("/") if target == "absolute" else "host/shadow")
    twin.parent.mkdir(parents=True)
    twin.write_text("the spec directory's own file\n")
    loaded = load_spec(spec)
    assert loaded.files[0].src == twin
    assert loaded.files[0].src.read_text() == "the spec directory's own file\n"


def test_a_link_loop_is_one_clear_error(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "a")
    os.symlink("b", spec.parent / "a")
    os.symlink("a", spec.parent / "b")
    with pytest.raises(SpecError, match="too many symbolic links"):
        load_spec(spec)


def test_a_file_in_the_spec_directory_is_found(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "bin/app")
    (spec.parent / "bin").mkdir()
    (spec.parent / "bin" / "app").write_text("app\n")
    assert load_spec(spec).files[0].src == spec.parent / "bin" / "app"


@pytest.mark.parametrize("key", ["requirements", "pyproject"])
def test_python_files_come_from_the_spec_directory_too(
    tmp_path: Path, decoy: Path, key: str
) -> None:
    spec = _spec(tmp_path, "unused")
    spec.write_text(f"python: {{{key}: ../host/shadow}}\n")
    with pytest.raises(SpecError, match="outside the spec's directory"):
        load_spec(spec)
    os.symlink(str(decoy), spec.parent / "reqs")
    spec.write_text(f"python: {{{key}: reqs}}\n")
    with pytest.raises(SpecError, match="is not a file"):
        load_spec(spec)
