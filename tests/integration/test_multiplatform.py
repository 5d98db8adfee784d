"""Multi-platform Dockerfile builds with the real archive, runc, skopeo and QEMU.

One module store holds the session's Go builder (amd64, copied from the session fixture)
and ``static:latest``/``static:debug`` for amd64 and arm64 (the arm64 packages come from
the persistent test package cache).  The examples/hello-go-multiarch Dockerfile cross-builds
in a ``FROM --platform=$BUILDPLATFORM`` builder; the busybox of ``static:debug`` gives
foreign RUN steps a shell.  QEMU is registered by :func:`qemu_registered` for the tests
that need it; the refusals run where binfmt_misc shows nothing (:func:`without_binfmt`), so
neither depends on what this host had registered before.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from distroless.elf.header import parse_header
from distroless.elf.machine import EM_AARCH64, EM_X86_64
from distroless.oci import mediatypes as mt
from distroless.oci.models import Platform
from distroless.store import Store
from distroless.verify.attach import attached_sbom
from tests.dockerfile.executor_helpers import image_layers
from tests.helpers import Cli, require, require_root, require_tool
from tests.helpers.cli import distroless_executable
from tests.helpers.images import GO_BUILDER, copy_images
from tests.helpers.qemu import qemu_registered, without_binfmt
from tests.helpers.refusal import store_state

pytestmark = [pytest.mark.integration, pytest.mark.network, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "hello-go-multiarch"
HELLO = "Hello, Distroless World!"
AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
NOT_REGISTERED = "QEMU for aarch64 is not registered with binfmt_misc"
#: the index digest the README shows for the example
README_BUILT = re.search(
    r"-t hello-multiarch examples/hello-go-multiarch\n(?:.*\n)*?Built (sha256:[0-9a-f]{64})",
    (REPO / "README.md").read_text(),
)

#: a RUN in a stage fixed to arm64, with the debug base's busybox as the shell
ARM64_RUN = """\
FROM --platform=linux/arm64 distroless/static:debug
SHELL ["/busybox/sh", "-c"]
RUN uname -m > /arch
"""

#: every target platform's RUN, with the platform ARGs BuildKit predefines
PLATFORM_ARGS = """\
FROM distroless/static:debug
SHELL ["/busybox/sh", "-c"]
ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM BUILDOS BUILDARCH
RUN echo "$TARGETPLATFORM $TARGETOS $TARGETARCH [$TARGETVARIANT] $BUILDPLATFORM $BUILDOS \
$BUILDARCH $(uname -m)" > /platform
"""


@pytest.fixture(scope="module")
def root(
    tmp_path_factory: pytest.TempPathFactory, package_cache: Path, go_builder_root: Path
) -> Path:
    require_root()
    require_tool("runc")
    require(Platform.host() == AMD64, "the builder and the expected outputs are amd64's")
    store_dir = tmp_path_factory.mktemp("multiplatform") / "store"
    copy_images(go_builder_root, Store(store_dir), (GO_BUILDER,))
    env = {"DISTROLESS_CACHE": str(package_cache)}
    Cli(store_dir)(
        "bases", "build", "static:latest", "static:debug", "--arch", "amd64,arm64", env=env
    ).check()
    return store_dir


@pytest.fixture
def cli(root: Path) -> Cli:
    return Cli(root)


def _hidden_qemu(root: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """``distroless ARGS`` on a host (as it looks to the tool) without QEMU registered."""
    argv = [str(distroless_executable()), "--root", str(root), *map(str, args)]
    return subprocess.run(
        without_binfmt(argv), capture_output=True, text=True, timeout=600, check=False
    )


def _one_line(message: str) -> str:
    message = message.strip()
    assert "\n" not in message, message
    assert "Traceback" not in message
    return message


def _file(store: Store, name: str, platform: Platform, path: str) -> bytes:
    image = store.load_image(name, platform)
    data = image_layers(store, image.descriptor)[-1][path][1]
    assert data is not None
    return data


def test_go_example_cross_built_for_amd64_and_arm64_in_one_command(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    built = cli.subprocess(
        "build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64",
        "-t", "hello:multi", EXAMPLE, env={"SOURCE_DATE_EPOCH": None},
    ).check()  # fmt: skip
    assert README_BUILT is not None
    assert f"Built {README_BUILT.group(1)}" in built.stdout  # what the README promises
    log = built.stderr
    # the builder runs natively for both; what does not see the target is made once
    assert "[linux/arm64 build] CACHED COPY go.mod main.go ./" in log, log
    assert "[linux/amd64 build] RUN |2 TARGETARCH=amd64 TARGETOS=linux" in log, log
    assert "[linux/arm64 build] RUN |2 TARGETARCH=arm64 TARGETOS=linux" in log, log

    store = Store(root)
    index = store.resolve("hello:multi")
    assert mt.is_index(index.media_type)
    layout = tmp_path / "layout"
    cli("copy", "--all-platforms", "hello:multi", f"oci:{layout}:hello").check()
    skopeo = require_tool("skopeo")
    raw = subprocess.run(
        [str(skopeo), "inspect", "--raw", f"oci:{layout}:hello"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    listed = json.loads(raw)
    assert listed["mediaType"] == mt.OCI_INDEX
    platforms = {(m["platform"]["os"], m["platform"]["architecture"]) for m in listed["manifests"]}
    assert platforms == {("linux", "amd64"), ("linux", "arm64")}

    for platform, machine in ((AMD64, EM_X86_64), (ARM64, EM_AARCH64)):
        header = parse_header(_file(store, "hello:multi", platform, "myapp")[:64])
        assert header is not None and header.e_machine == machine, platform
        image = store.load_image("hello:multi", platform)
        assert image.config.platform == platform
        assert attached_sbom(store, image.descriptor.digest) is not None, platform

    assert cli.subprocess("run", "--rm", "hello:multi").check().stdout.strip() == HELLO
    with qemu_registered(("aarch64",)):
        ran = cli.subprocess("run", "--rm", "--platform", "linux/arm64", "hello:multi")
    assert ran.check().stdout.strip() == HELLO

    refused = _hidden_qemu(root, "run", "--rm", "--platform", "linux/arm64", "hello:multi")
    assert refused.returncode == 10, refused
    message = _one_line(refused.stderr)
    assert message.startswith("error: image hello:multi: linux/arm64 programs need QEMU")
    assert NOT_REGISTERED in message


@pytest.mark.unsafe_images
def test_an_arm64_run_is_refused_without_qemu_and_runs_under_it(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(ARM64_RUN)
    before = store_state(root)
    refused = _hidden_qemu(root, "build", "-q", "-t", "arch:arm64", context)
    assert refused.returncode == 9, refused
    message = _one_line(refused.stderr)
    assert f"{context / 'Dockerfile'}:3: RUN: linux/arm64 programs need QEMU" in message
    assert NOT_REGISTERED in message
    assert store_state(root) == before

    with qemu_registered(("aarch64",)):
        cli.subprocess("build", "-q", "-t", "arch:arm64", context).check()
    assert _file(Store(root), "arch:arm64", ARM64, "arch") == b"aarch64\n"


@pytest.mark.unsafe_images
def test_platform_args_per_target_and_the_same_index_twice(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(PLATFORM_ARGS)
    digests = []
    with qemu_registered(("aarch64",)):
        for order in (("linux/arm64", "linux/amd64"), ("linux/amd64", "linux/arm64")):
            flags = [f for p in order for f in ("--platform", p)]
            built = cli.subprocess("build", "-q", "--no-cache", *flags, "-t", "args:1", context)
            digests.append(built.check().stdout.strip())
    assert digests[0] == digests[1]
    store = Store(root)
    assert mt.is_index(store.resolve("args:1").media_type)
    host = "linux/amd64 linux amd64"
    assert _file(store, "args:1", AMD64, "platform").decode() == (
        f"linux/amd64 linux amd64 [] {host} x86_64\n"
    )
    assert _file(store, "args:1", ARM64, "platform").decode() == (
        f"linux/arm64 linux arm64 [] {host} aarch64\n"
    )
