"""A full disk under the store: a clear one-line error, no partial blob, a usable store.

The store (or the package cache) lives on a small tmpfs mounted for the test (root only;
skipped with the reason when mounting is not permitted).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from distroless.debian.sources import read_apt_sources
from distroless.errors import StoreError
from tests.faults.support import MIB, SEED, assert_consistent, image_names, leftovers, write_spec
from tests.helpers import Cli, Registry, Result, require

pytestmark = pytest.mark.integration


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def _unmount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, unmounted at the end of the test."""
    mnt = tmp_path / "disk"
    _mount_tmpfs(mnt, "8m")
    try:
        yield mnt
    finally:
        _unmount(mnt)


def _fill(path: Path) -> None:
    """Write ``path`` until the file system under it has no byte left."""
    chunk = b"\0" * (64 * 1024)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)


def _assert_disk_full_error(result: Result, store: Path) -> None:
    assert result.exit_code == StoreError.exit_code, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: no space left on device while writing "), result.stderr
    assert str(store) in result.stderr


def test_image_larger_than_the_disk(tmp_path: Path, small_disk: Path) -> None:
    cli = Cli(small_disk / "store")
    small = write_spec(tmp_path / "small", {"s.txt": 2000}, SEED + 40)
    before = cli("build", "-q", "--spec", small, "-t", "before:v1").check().stdout.strip()
    big = write_spec(tmp_path / "big", {"big.bin": 12 * MIB, "a.txt": 10}, SEED + 41)

    failed = cli.subprocess("build", "--spec", big, "-t", "big:v1")

    _assert_disk_full_error(failed, cli.root)
    assert leftovers(cli.root) == []  # the partial blob went with its temp file
    assert_consistent(cli, "the failed build")  # every blob present hashes to its name
    assert image_names(cli) == {"before:v1": before}
    again = write_spec(tmp_path / "again", {"t.txt": 3000}, SEED + 42)
    cli("build", "--spec", again, "-t", "after:v1").check()
    assert set(image_names(cli)) == {"before:v1", "after:v1"}
    assert_consistent(cli, "a build after the full disk")


def test_index_update_on_a_full_disk_keeps_the_old_index(tmp_path: Path, small_disk: Path) -> None:
    cli = Cli(small_disk / "store")
    small = write_spec(tmp_path / "small", {"s.txt": 2000}, SEED + 43)
    before = cli("build", "-q", "--spec", small, "-t", "before:v1").check().stdout.strip()
    index = (cli.root / "index.json").read_bytes()
    filler = small_disk / "filler"
    _fill(filler)

    failed = cli.subprocess("tag", "before:v1", "other:v1")

    _assert_disk_full_error(failed, cli.root)
    assert (cli.root / "index.json").read_bytes() == index
    assert leftovers(cli.root) == []
    filler.unlink()
    assert_consistent(cli, "the failed tag")
    assert image_names(cli) == {"before:v1": before}
    cli("tag", "before:v1", "other:v1").check()
    assert image_names(cli) == {"before:v1": before, "other:v1": before}


@pytest.fixture
def small_cache(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs as the package cache: less than one Packages index of the archive."""
    require(read_apt_sources(Path("/")), "this host's apt sources name no Debian archive")
    mnt = tmp_path / "cache-disk"
    _mount_tmpfs(mnt, "4m")
    try:
        yield mnt
    finally:
        _unmount(mnt)


def _build_with_packages(tmp_path: Path, cli: Cli, cache: Path) -> Result:
    spec = tmp_path / "pkgs" / "image.yaml"
    spec.parent.mkdir()
    spec.write_text("packages: [tzdata]\n")
    return cli.subprocess(
        "build", "--spec", spec, "-t", "tz:v1", env={"DISTROLESS_CACHE": str(cache)}
    )


@pytest.mark.network
def test_full_package_cache_fails_cleanly(tmp_path: Path, small_cache: Path) -> None:
    cli = Cli(tmp_path / "store")
    small = write_spec(tmp_path / "small", {"s.txt": 2000}, SEED + 44)
    before = cli("build", "-q", "--spec", small, "-t", "before:v1").check().stdout.strip()

    failed = _build_with_packages(tmp_path, cli, small_cache / "cache")

    assert failed.exit_code != 0
    assert "Traceback" not in failed.stderr
    assert failed.stderr.count("\n") == 1, failed.stderr
    assert "no space left on device" in failed.stderr.lower()
    assert leftovers(cli.root) == []
    assert_consistent(cli, "a build whose package cache filled up")
    assert image_names(cli) == {"before:v1": before}


@pytest.mark.network
def test_full_package_cache_is_a_store_error_naming_the_cache(
    tmp_path: Path, small_cache: Path
) -> None:
    failed = _build_with_packages(tmp_path, Cli(tmp_path / "store"), small_cache / "cache")
    assert failed.exit_code == StoreError.exit_code, failed.stderr
    assert str(small_cache) in failed.stderr


@pytest.fixture
def big_archive(tmp_path: Path) -> tuple[Cli, Path]:
    """A store holding a 12 MB image, and that image saved as a docker-archive."""
    source = Cli(tmp_path / "source")
    spec = write_spec(tmp_path / "bigctx", {"big.bin": 12 * MIB}, SEED + 45)
    source("build", "--spec", spec, "-t", "big:v1").check()
    archive = tmp_path / "big.tar"
    source("save", "big:v1", "-o", archive).check()
    return source, archive


def test_load_onto_a_full_disk(small_disk: Path, big_archive: tuple[Cli, Path]) -> None:
    cli = Cli(small_disk / "store")
    failed = cli.subprocess("load", "-i", big_archive[1])
    _assert_disk_full_error(failed, cli.root)
    assert leftovers(cli.root) == []
    assert_consistent(cli, "a load onto a full disk")
    assert image_names(cli) == {}


def test_pull_onto_a_full_disk(
    small_disk: Path, big_archive: tuple[Cli, Path], registry: Registry
) -> None:
    ref = registry.ref("faults/full-disk", "v1")
    big_archive[0]("push", "big:v1", ref).check()
    cli = Cli(small_disk / "store")
    failed = cli.subprocess("pull", ref)
    _assert_disk_full_error(failed, cli.root)
    assert leftovers(cli.root) == []
    assert_consistent(cli, "a pull onto a full disk")
    assert image_names(cli) == {}
