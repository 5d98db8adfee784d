"""The shared fixtures drive the real components: dockerd, docker-registry, skopeo, umoci."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import (
    HELLO_LINE,
    Cli,
    CommandFailed,
    DockerEngine,
    EngineStartError,
    Registry,
    RegistryFactory,
    c_build,
    docker_engine,
    go_build,
    require,
    require_root,
    require_tool,
    rootfs_tar,
    skopeo,
    skopeo_inspect,
    umoci,
)


def test_require_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="thing is missing"):
        require(False, "thing is missing")
    require(True, "never shown")


def test_require_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="thing is missing"):
        require(False, "thing is missing")


def test_docker_engine_answers(docker_engine: DockerEngine) -> None:
    version = docker_engine.run("version", "--format", "{{.Server.Version}}").stdout.strip()
    assert version
    assert docker_engine.host.startswith("unix://")


def test_docker_runs_imported_static_binary(docker_engine: DockerEngine, hello_image: str) -> None:
    proc = docker_engine.run("run", "--rm", "--network", "none", hello_image, "a", "b")
    assert proc.stdout.splitlines() == [HELLO_LINE, "a b"]
    failed = docker_engine.run_image(hello_image, options=("--entrypoint", "/absent"), check=False)
    assert failed.returncode != 0


def test_docker_failure_carries_stderr(docker_engine: DockerEngine) -> None:
    with pytest.raises(CommandFailed, match=r"(?i)no such"):
        docker_engine.run("image", "inspect", "distroless-test/absent:latest")


def test_docker_load_returns_references(
    docker_engine: DockerEngine, hello_image: str, tmp_path: Path
) -> None:
    archive = tmp_path / "hello.tar"
    docker_engine.run("tag", hello_image, "distroless-test/reloaded:1")
    docker_engine.run("save", "-o", archive, "distroless-test/reloaded:1")
    docker_engine.run("rmi", "distroless-test/reloaded:1")
    assert docker_engine.load(archive) == ["distroless-test/reloaded:1"]
    docker_engine.run("rmi", "distroless-test/reloaded:1")


def test_registry_answers_v2(registry: Registry) -> None:
    assert registry.get("/v2/")[0] == 200


def test_skopeo_pushes_to_registry_and_umoci_unpacks(
    docker_engine: DockerEngine, hello_image: str, registry: Registry, tmp_path: Path
) -> None:
    archive = tmp_path / "hello.tar"
    docker_engine.run("save", "-o", archive, hello_image)
    ref = registry.ref("fixtures/hello", "v1")
    skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive}", f"docker://{ref}")
    status, body = registry.get("/v2/fixtures/hello/tags/list")
    assert status == 200
    assert json.loads(body)["tags"] == ["v1"]

    layout = tmp_path / "layout"
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:v1")
    manifest = skopeo_inspect(f"oci:{layout}:v1", raw=True)
    assert isinstance(manifest, dict)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"

    bundle = tmp_path / "bundle"
    umoci("unpack", "--image", f"{layout}:v1", bundle)
    hello = bundle / "rootfs" / "hello"
    assert subprocess.run([hello], capture_output=True, text=True, check=True).stdout == (
        HELLO_LINE + "\n"
    )


def test_registry_factory_basic_auth(
    registry_factory: RegistryFactory, docker_engine: DockerEngine, hello_image: str, tmp_path: Path
) -> None:
    reg = registry_factory(htpasswd=("alice", "s3cret"))
    assert reg.get("/v2/")[0] == 200
    anonymous = Registry(url=reg.url, root=reg.root)
    assert anonymous.get("/v2/")[0] == 401

    archive = tmp_path / "hello.tar"
    docker_engine.run("save", "-o", archive, hello_image)
    src, dest = f"docker-archive:{archive}", f"docker://{reg.ref('private/hello')}"
    with pytest.raises(CommandFailed, match=r"(?i)unauthorized|authentication"):
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds=alice:wrong", src, dest)
    skopeo("copy", "--dest-tls-verify=false", "--dest-creds=alice:s3cret", src, dest)
    assert reg.get("/v2/private/hello/tags/list")[0] == 200


def test_c_build_links_dynamically(tmp_path: Path) -> None:
    program = '#include <stdio.h>\nint main(void) { puts("from c"); return 3; }\n'
    binary = c_build(program, tmp_path / "prog")
    proc = subprocess.run([binary], capture_output=True, text=True, check=False)
    assert (proc.returncode, proc.stdout) == (3, "from c\n")
    assert b"ld-linux" in binary.read_bytes()


def test_cli_in_process_and_subprocess(cli: Cli) -> None:
    for result in (cli("--version"), cli.subprocess("--version")):
        assert result.ok, result
        assert "distroless" in result.stdout
    bad = cli("no-such-command")
    assert bad.exit_code == 2
    assert "no-such-command" in bad.stderr


def test_engine_that_cannot_start_reports_its_log_and_leaves_nothing(tmp_path: Path) -> None:
    require_root()
    require_tool("dockerd", "/usr/sbin/dockerd")
    base = tmp_path / "engine"
    with (
        pytest.raises(EngineStartError, match="nosuchdriver"),
        docker_engine(base, drivers=("nosuchdriver",)),
    ):
        pytest.fail("the engine must not start")
    assert not list(base.glob("data-*"))
    assert str(base) not in Path("/proc/self/mountinfo").read_text()


def test_go_build_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        go_build(tmp_path / "nope", tmp_path / "out")
    with pytest.raises(CommandFailed, match="undefined: missing"):
        go_build("package main\n\nfunc main() { missing() }\n", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_rootfs_tar_is_deterministic(tmp_path: Path) -> None:
    files: dict[str, bytes | Path] = {"usr/bin/x": b"x", "etc/a": b"a"}
    first = rootfs_tar(tmp_path / "1.tar", files).read_bytes()
    second = rootfs_tar(tmp_path / "2.tar", dict(reversed(files.items()))).read_bytes()
    assert first == second
