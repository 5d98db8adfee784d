"""`copy` between every transport, checked by skopeo and by digests."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers import Cli, Registry, skopeo_inspect


def _built(tmp_path: Path, cli: Cli, binary: Path) -> str:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    shutil.copy(binary, ctx / "hello")
    (ctx / "image.yaml").write_text(
        "files:\n  - {src: hello, dst: /hello, mode: 0755}\nentrypoint: [/hello]\n"
        "archs: [amd64, arm64]\n"
    )
    cli("build", "--spec", ctx / "image.yaml", "-t", "copy-src:1").check()
    digest = cli("images", "--json").check().json()[0]["digest"]  # type: ignore[index]
    assert isinstance(digest, str)
    return digest


def test_copy_round_trip_through_every_transport(
    tmp_path: Path, cli: Cli, hello_go_binary: Path, registry: Registry
) -> None:
    digest = _built(tmp_path, cli, hello_go_binary)
    layout = tmp_path / "layout"

    cli("copy", "copy-src:1", f"oci:{layout}:v1").check()
    raw = skopeo_inspect(f"oci:{layout}:v1", raw=True)
    assert sorted(m["platform"]["architecture"] for m in raw["manifests"]) == ["amd64", "arm64"]  # type: ignore[index]

    remote = registry.ref("copy/hello", "1")
    cli("copy", f"oci:{layout}:v1", f"docker://{remote}").check()
    seen = skopeo_inspect(f"docker://{remote}", "--tls-verify=false", raw=True)
    assert len(seen["manifests"]) == 2  # type: ignore[index]

    other = Cli(tmp_path / "other")
    other("copy", "--all-platforms", f"docker://{remote}", "back:1").check()
    assert other("inspect", "back:1").check().json()["digest"] == digest  # type: ignore[index]

    archive = tmp_path / "hello.tar"
    other("copy", "back:1", f"docker-archive:{archive}:hello:1").check()
    names = [row["name"] for row in other("images", "--json").check().json()]  # type: ignore[attr-defined]
    assert "back:1" in names
    assert "hello:1" not in names  # the name inside the archive does not leak into the store
    third = Cli(tmp_path / "third")
    third("copy", f"docker-archive:{archive}", "again:1").check()
    assert third("inspect", "again:1").check().json()["digest"] == digest  # type: ignore[index]

    oci_archive = tmp_path / "hello-oci.tar"
    cli(
        "copy", f"docker://{remote}", f"oci-archive:{oci_archive}:hello:1", "--all-platforms"
    ).check()
    assert skopeo_inspect(f"oci-archive:{oci_archive}:hello:1")["Digest"]  # type: ignore[index]


def test_copy_errors_are_clear(tmp_path: Path, cli: Cli) -> None:
    missing = cli("copy", f"oci:{tmp_path / 'nowhere'}:v1", "x:1")
    assert missing.exit_code == 4
    assert "is not an OCI image layout" in missing.stderr
    assert cli("copy", "nothere:1", f"oci:{tmp_path / 'out'}").exit_code == 4
    assert not (tmp_path / "out").exists()
