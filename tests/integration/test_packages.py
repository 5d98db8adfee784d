"""Issue "Debian packages" against the real archive named by this host's apt sources."""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from distroless.debian.provider import PackageSource
from distroless.debian.sources import discover_mirrors, read_apt_sources
from distroless.layers.compress import open_decompressed
from distroless.store import Store
from tests.helpers import Cli, DockerEngine, go_build, require, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.network]

_INST = re.compile(r"^Inst (\S+) \((\S+) ")


@pytest.fixture(scope="module")
def source(package_cache: Path) -> PackageSource:
    require(read_apt_sources(Path("/")), "this host's apt sources name no Debian archive")
    return PackageSource(package_cache)


def _apt_closure(tmp: Path, arch: str, package: str) -> set[tuple[str, str]]:
    """What apt itself would install for ``package`` on an empty trixie system of ``arch``."""
    require_tool("apt-get")
    mirrors = discover_mirrors(env={})
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    lines = [
        f"deb [signed-by={keyring}] {mirrors.main} trixie main",
        f"deb [signed-by={keyring}] {mirrors.main} trixie-updates main",
    ]
    if mirrors.security:
        lines.append(f"deb [signed-by={keyring}] {mirrors.security} trixie-security main")
    for sub in ("lists/partial", "cache/archives/partial", "etc"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    (tmp / "etc" / "sources.list").write_text("\n".join(lines) + "\n")
    (tmp / "status").write_text("")
    options = [
        f"-oDir::Etc={tmp / 'etc'}",
        f"-oDir::Etc::SourceList={tmp / 'etc' / 'sources.list'}",
        "-oDir::Etc::SourceParts=/nonexistent",
        f"-oDir::State::Lists={tmp / 'lists'}",
        f"-oDir::State::status={tmp / 'status'}",
        f"-oDir::Cache={tmp / 'cache'}",
        f"-oAPT::Architecture={arch}",
        f"-oAPT::Architectures={arch}",
        "-oDebug::NoLocking=1",
    ]
    subprocess.run(["apt-get", *options, "update", "-qq"], check=True, capture_output=True)
    out = subprocess.run(
        ["apt-get", *options, "install", "-s", "--no-install-recommends", package],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {(m[1], m[2]) for m in map(_INST.match, out.splitlines()) if m}


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_closure_matches_apt(tmp_path: Path, source: PackageSource, arch: str) -> None:
    ours = source.resolve("debian13", arch, ["python3.13-minimal"])
    expected = _apt_closure(tmp_path, arch, "python3.13-minimal")
    assert {(p.name, str(p.version)) for p in ours} == expected
    assert ours[-1].name == "python3.13-minimal"
    assert {p.architecture for p in ours} <= {arch, "all"}


_VERIFY_GO = """
package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

func main() {
	pool, err := x509.SystemCertPool()
	if err != nil {
		fmt.Println("no system pool:", err)
		os.Exit(2)
	}
	data, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		fmt.Println("no bundle:", err)
		os.Exit(3)
	}
	verified := 0
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		chains, err := cert.Verify(x509.VerifyOptions{Roots: pool})
		if err == nil && len(chains) > 0 {
			verified++
		}
	}
	fmt.Printf("verified %d chains against the system pool\\n", verified)
	if verified < 100 {
		os.Exit(4)
	}
}
"""


def test_ca_certificates_image_verifies_chains_in_docker(
    tmp_path: Path, cli: Cli, package_cache: Path, docker_engine: DockerEngine
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    go_build(_VERIFY_GO, ctx / "verify")
    spec = ctx / "image.yaml"
    spec.write_text(
        "packages: [ca-certificates]\narchs: [amd64]\n"
        "files:\n  - {src: verify, dst: /verify, mode: 0755}\nentrypoint: [/verify]\n"
    )
    env = {"DISTROLESS_CACHE": str(package_cache)}
    cli("build", "--spec", spec, "-t", "cacerts:1", env=env).check()
    archive = tmp_path / "cacerts.tar"
    cli("save", "cacerts:1", "-o", archive).check()
    docker_engine.load(archive)
    out = docker_engine.run("run", "--rm", "--network", "none", "cacerts:1").stdout
    assert re.fullmatch(r"verified \d{3} chains against the system pool\n", out)

    store = Store(cli.root)
    image = store.load_image("cacerts:1")
    names: set[str] = set()
    status: set[str] = set()
    for layer in image.layers:
        with (
            store.open_blob(layer.digest) as fh,
            tarfile.open(fileobj=open_decompressed(fh), mode="r|") as tar,
        ):
            for member in tar:
                names.add(member.name)
                if member.name.startswith("var/lib/dpkg/status.d/"):
                    status.add(member.name.rsplit("/", 1)[1])
    packages = {
        h.created_by.split()[1] for h in image.config.history if h.created_by.startswith("deb ")
    }
    assert "ca-certificates" in packages
    for package in packages:
        assert package in status and f"{package}.md5sums" in status
    assert "var/lib/dpkg/status" not in names
    assert not any(n.startswith(("bin/", "lib/", "sbin/")) for n in names)  # merged /usr


def test_lock_then_build_is_reproducible_and_stale_lock_fails(
    tmp_path: Path, package_cache: Path
) -> None:
    spec = tmp_path / "image.yaml"
    spec.write_text("packages: [tzdata]\narchs: [amd64, arm64]\n")
    env = {"DISTROLESS_CACHE": str(package_cache)}
    first = Cli(tmp_path / "store-a")
    locked = first("lock", spec, env=env).check()
    assert "image.lock.json" in locked.stdout
    lock_text = (tmp_path / "image.lock.json").read_text()
    assert '"tzdata"' in lock_text and '"arm64"' in lock_text
    digests = []
    for store in ("store-a", "store-b"):
        result = Cli(tmp_path / store)("build", "-q", "--spec", spec, env=env).check()
        digests.append(result.stdout.strip())
    assert digests[0] == digests[1]
    assert Store(tmp_path / "store-b").resolve(digests[1]).media_type.endswith("index.v1+json")

    spec.write_text("packages: [tzdata, netbase]\narchs: [amd64, arm64]\n")
    before = sorted(p.name for p in (tmp_path / "store-b" / "blobs" / "sha256").iterdir())
    stale = Cli(tmp_path / "store-b")("build", "--spec", spec, env=env)
    assert stale.exit_code == 3
    assert stale.stderr.strip() == (
        "error: image.lock.json no longer matches image.yaml; "
        "run `distroless lock image.yaml` again"
    )
    assert sorted(p.name for p in (tmp_path / "store-b" / "blobs" / "sha256").iterdir()) == before
    shutil.rmtree(tmp_path / "store-a")
