"""One table between Debian's, the kernel's and OCI's architecture names."""

from __future__ import annotations

import pytest

from distroless.elf.machine import LOADERS
from distroless.errors import InputError
from distroless.oci.arch import (
    DEBIAN_TO_OCI,
    KERNEL_TO_OCI,
    debian_of_oci,
    kernel_of_debian,
    oci_of_debian,
)
from distroless.oci.models import Platform


@pytest.mark.parametrize(
    ("debian", "platform"),
    [
        ("amd64", "linux/amd64"),
        ("arm64", "linux/arm64"),
        ("armhf", "linux/arm/v7"),
        ("armel", "linux/arm/v5"),
        ("i386", "linux/386"),
        ("ppc64el", "linux/ppc64le"),
        ("riscv64", "linux/riscv64"),
        ("s390x", "linux/s390x"),
    ],
)
def test_debian_release_architectures_and_their_platforms(debian: str, platform: str) -> None:
    assert str(Platform.of_debian(debian)) == platform
    assert Platform.parse(platform).debian_arch() == debian
    assert Platform.parse(debian) == Platform.parse(platform)  # --platform armhf works too


def test_arm_without_a_variant_is_v7_and_arm64_v8_is_arm64() -> None:
    assert debian_of_oci("arm", None) == "armhf"
    assert Platform.parse("linux/arm64/v8").debian_arch() == "arm64"


def test_kernel_names_are_understood() -> None:
    assert Platform.parse("x86_64") == Platform("linux", "amd64")
    assert Platform.parse("linux/aarch64") == Platform("linux", "arm64")


def test_unknown_names_are_one_clear_error() -> None:
    with pytest.raises(InputError, match="unknown Debian architecture 'vax'"):
        oci_of_debian("vax")
    with pytest.raises(InputError, match="no Debian architecture builds for .*linux/arm/v6"):
        Platform("linux", "arm", "v6").debian_arch()


def test_the_loaders_speak_the_same_table() -> None:
    assert set(LOADERS) == set(DEBIAN_TO_OCI)
    for name, loader in LOADERS.items():
        assert (loader.oci_arch, loader.oci_variant) == DEBIAN_TO_OCI[name]


def test_the_host_is_a_platform_the_table_knows() -> None:
    host = Platform.host()
    assert host.os == "linux" and host.architecture in {o for o, _ in DEBIAN_TO_OCI.values()}


def test_every_debian_port_with_a_kernel_name_maps_back_to_it() -> None:
    for debian, oci in DEBIAN_TO_OCI.items():
        machine = kernel_of_debian(debian)
        assert machine is None or KERNEL_TO_OCI[machine] == oci
    assert kernel_of_debian("armhf") == "armv7l" and kernel_of_debian("ppc64") is None
    assert kernel_of_debian("no-such-port") is None
