from __future__ import annotations

import pytest

from distroless.debian.resolver import Package
from distroless.debian.version import Version
from distroless.errors import PythonPackageError
from distroless.python.target import PythonTarget, python_target


def _pkg(name: str, version: str) -> Package:
    return Package(name, Version.parse(version), "amd64")


BASE = [_pkg("libc6", "2.41-12+deb13u5"), _pkg("python3.13-minimal", "3.13.5-2")]


def test_target_from_the_base() -> None:
    target = python_target(BASE, "arm64", "distroless/python3")
    assert target == PythonTarget("3.13", (2, 41), "arm64")
    assert target.abis == ("cp313", "abi3", "none")
    assert target.site_packages == "/usr/local/lib/python3.13/dist-packages"
    tags = target.platform_tags()
    assert tags[0] == "manylinux_2_41_aarch64" and "manylinux_2_17_aarch64" in tags
    assert "manylinux_2_42_aarch64" not in tags  # newer than the base's glibc
    assert {"manylinux2014_aarch64", "manylinux1_aarch64"} <= set(tags)


def test_an_older_glibc_offers_fewer_tags() -> None:
    target = python_target([_pkg("libc6", "2.36-9"), *BASE[1:]], "amd64", "b")
    assert target.platform_tags()[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_41_x86_64" not in target.platform_tags()


def test_a_base_without_python() -> None:
    with pytest.raises(PythonPackageError, match="has no Python"):
        python_target(BASE[:1], "amd64", "distroless/cc")


def test_another_python_version_than_the_base() -> None:
    with pytest.raises(PythonPackageError, match=r"3.99 is not the Python of the base .*\(3.13\)"):
        python_target(BASE, "amd64", "distroless/python3", "3.99")


@pytest.mark.parametrize(
    ("arch", "machine"),
    [
        ("amd64", "x86_64"),
        ("arm64", "aarch64"),
        ("armhf", "armv7l"),
        ("i386", "i686"),
        ("ppc64el", "ppc64le"),
        ("s390x", "s390x"),
        ("riscv64", "riscv64"),
    ],
)
def test_wheel_tags_name_the_kernels_machine(arch: str, machine: str) -> None:
    target = python_target(BASE, arch, "distroless/python3")
    assert target.machine == machine
    assert target.platform_tags()[0] == f"manylinux_2_41_{machine}"


def test_a_port_with_no_known_machine_gets_no_wheels() -> None:
    with pytest.raises(PythonPackageError, match="no wheels are chosen for architecture ppc64"):
        python_target(BASE, "ppc64", "distroless/python3")
