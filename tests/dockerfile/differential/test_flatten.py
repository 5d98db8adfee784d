"""The flattener and the comparison the differential suite relies on, on hand-made archives.

If these were wrong, the suite could call two different images equal; each test here builds
the tar a real builder would write for one layer rule and checks the flattened result.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from backports import zstd
from tests.dockerfile.differential.harness import (
    Case,
    CaseError,
    Outcome,
    compare_config,
    compare_files,
    error_problems,
)
from tests.helpers.flatten import IMPLICIT_DIR, ArchiveError, Node, read_saved

Entry = tuple[str, bytes, int, bytes | str | None]  # name, type, mode, data or link target


def _layer(entries: list[Entry], *, uid: int = 0) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, mode, payload in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid = kind, mode, uid, uid
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                assert isinstance(payload, str)
                info.linkname = payload
                tar.addfile(info)
            elif kind == tarfile.REGTYPE:
                assert isinstance(payload, bytes)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                tar.addfile(info)
    return buf.getvalue()


def _archive(path: Path, layers: list[bytes], config: dict[str, object]) -> Path:
    """A docker-archive: manifest.json naming the config and the layer files."""
    with tarfile.open(path, "w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        names = []
        for i, layer in enumerate(layers):
            names.append(f"{i}/layer.tar")
            add(names[-1], layer)
        add("config.json", json.dumps(config).encode())
        manifest = [{"Config": "config.json", "RepoTags": ["t/x:latest"], "Layers": names}]
        add("manifest.json", json.dumps(manifest).encode())
    return path


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


REG, DIR, SYM, LNK = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def test_whiteouts_opaque_dirs_and_implicit_parents(tmp_path: Path) -> None:
    lower = _layer(
        [
            ("./", DIR, 0o755, None),
            ("./etc/", DIR, 0o755, None),
            ("./etc/gone", REG, 0o644, b"x"),
            ("./etc/kept", REG, 0o644, b"k"),
            ("./d/", DIR, 0o700, None),
            ("./d/old", REG, 0o600, b"o"),
            ("./tree/sub/f", REG, 0o644, b"f"),
        ]
    )
    upper = _layer(
        [
            ("etc/.wh.gone", REG, 0o644, b""),
            ("d/", DIR, 0o755, None),
            ("d/.wh..wh..opq", REG, 0o644, b""),
            ("d/new", REG, 0o640, b"n"),
            (".wh.tree", REG, 0o644, b""),
        ],
        uid=7,
    )
    image = read_saved(_archive(tmp_path / "a.tar", [lower, upper], {"config": {}}), "t/x:latest")
    assert set(image.files) == {"etc", "etc/kept", "d", "d/new"}
    assert image.files["d"] == Node("dir", 0o755, 7, 7)
    assert image.files["d/new"].digest == _digest(b"n")
    assert image.files["d/new"].sample == b"n"
    assert image.layer_count == 2
    only_lower = read_saved(_archive(tmp_path / "b.tar", [lower], {"config": {}}))
    assert only_lower.files["tree"] == IMPLICIT_DIR
    assert only_lower.files["tree/sub"].implicit


def test_hard_links_take_their_target_and_a_file_replaces_a_directory(tmp_path: Path) -> None:
    lower = _layer([("a/", DIR, 0o755, None), ("a/inner", REG, 0o644, b"i")])
    upper = _layer(
        [
            ("t", REG, 0o750, b"content"),
            ("h", LNK, 0o644, "t"),
            ("a", SYM, 0o777, "t"),
        ]
    )
    image = read_saved(_archive(tmp_path / "a.tar", [lower, upper], {"config": {}}))
    assert image.files["h"] == image.files["t"] == Node("file", 0o750, 0, 0, _digest(b"content"))
    assert image.files["a"] == Node("symlink", 0o777, 0, 0, link="t")
    assert "a/inner" not in image.files


def test_compressed_layers_and_the_oci_layout(tmp_path: Path) -> None:
    layer = _layer([("f", REG, 0o644, b"data")])
    blobs = {
        "gz": gzip.compress(layer),
        "zst": zstd.compress(layer),
    }
    config = json.dumps({"config": {"Env": ["A=1"]}}).encode()
    layers = [{"digest": _digest(b)} for b in blobs.values()]
    manifest = json.dumps({"config": {"digest": _digest(config)}, "layers": layers}).encode()
    index = json.dumps({"manifests": [{"digest": _digest(manifest)}]}).encode()
    path = tmp_path / "oci.tar"
    with tarfile.open(path, "w") as tar:
        for data in (*blobs.values(), config, manifest):
            info = tarfile.TarInfo("blobs/sha256/" + _digest(data).split(":")[1])
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("index.json")
        info.size = len(index)
        tar.addfile(info, io.BytesIO(index))
    image = read_saved(path)
    assert image.config == {"config": {"Env": ["A=1"]}}
    assert image.files == {"f": Node("file", 0o644, 0, 0, _digest(b"data"))}


def test_an_archive_without_an_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.tar"
    with tarfile.open(path, "w"):
        pass
    with pytest.raises(ArchiveError, match="not a saved image"):
        read_saved(path)
    archive = _archive(tmp_path / "a.tar", [], {"config": {}})
    with pytest.raises(ArchiveError, match="not in the archive"):
        read_saved(archive, "other:latest")


def test_config_comparison_equates_only_what_means_the_same() -> None:
    same = compare_config(
        {"config": {"Labels": {}, "WorkingDir": "", "OnBuild": None, "Cmd": ["a"]}},
        {"config": {"OnBuild": [], "Cmd": ["a"], "Healthcheck": None}},
    )
    assert same == []
    assert compare_config({"config": {"Cmd": None}}, {"config": {"Cmd": []}}) == [
        "config Cmd: docker None, ours []"
    ]
    ports = compare_config(
        {"config": {"ExposedPorts": {"80/tcp": {}}}}, {"config": {"ExposedPorts": {"80/TCP": {}}}}
    )
    assert ports == ["config ExposedPorts: docker ['80/tcp'], ours ['80/TCP']"]
    health = {"Test": ["NONE"], "Interval": 0}
    assert (
        compare_config(
            {"config": {"Healthcheck": health}}, {"config": {"Healthcheck": {"Test": ["NONE"]}}}
        )
        == []
    )


def test_file_comparison_sees_each_attribute_but_not_the_sample() -> None:
    base = Node("file", 0o644, 0, 0, "sha256:1")
    assert (
        compare_files({"f": base}, {"f": Node("file", 0o644, 0, 0, "sha256:1", sample=b"x")}) == []
    )
    for other in (
        Node("file", 0o600, 0, 0, "sha256:1"),
        Node("file", 0o644, 1, 0, "sha256:1"),
        Node("file", 0o644, 0, 1, "sha256:1"),
        Node("file", 0o644, 0, 0, "sha256:2"),
        Node("symlink", 0o644, 0, 0, link="x"),
    ):
        assert len(compare_files({"f": base}, {"f": other})) == 1
    assert compare_files({"d": IMPLICIT_DIR}, {"d": Node("dir", 0o755, 0, 0)}) == []
    assert compare_files({}, {"x": base}) == ["/x: only ours (file 0644 0:0 sha256:1)"]


def test_error_outcomes_are_judged_on_every_rule(tmp_path: Path) -> None:
    case = Case(name="c", path=tmp_path, error_line=3)
    good = Outcome(ok=False, output="error: /x/Dockerfile:3:5: bad\n", exit_code=3)
    assert error_problems(case, good) == []
    assert error_problems(case, Outcome(ok=True)) == [
        "our build succeeded where docker refuses the Dockerfile"
    ]
    wrong = Outcome(
        ok=False,
        output='Traceback (most recent call last):\n  File "x.py", line 1\nDockerfile:4: no\n',
        store_before=["f a 1"],
        store_after=["f a 1", "f b 2"],
    )
    problems = "\n".join(error_problems(case, wrong))
    for expected in ("traceback", "3 lines", "names line 4", "store changed"):
        assert expected in problems


def test_case_files_are_validated(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "case.yaml").write_text("bogus: 1\n")
    with pytest.raises(CaseError, match="unknown keys"):
        Case.load(tmp_path)
    (tmp_path / "case.yaml").write_text("reference: missing.Dockerfile\n")
    with pytest.raises(CaseError, match="missing"):
        Case.load(tmp_path)
    (tmp_path / "case.yaml").write_text("xfail: |\n  two\n  lines\n")
    with pytest.raises(CaseError, match="one-line"):
        Case.load(tmp_path)
    (tmp_path / "case.yaml").write_text("xfail: differs somehow\n")
    with pytest.raises(CaseError, match="xfail needs differs"):
        Case.load(tmp_path)
    (tmp_path / "case.yaml").write_text("error: {line: 2}\nbuild_args: {A: 1}\n")
    case = Case.load(tmp_path)
    assert (case.error_line, dict(case.build_args)) == (2, {"A": "1"})
