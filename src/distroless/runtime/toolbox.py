"""The debug toolbox: a static busybox and its applet links, mounted at ``/.debug``.

``distroless debug`` lends a shell and the usual tools to an image or a container that
has none, without changing either: the toolbox is a directory on the host, outside the
store (under the package cache, ``toolbox/<sha256 of busybox>``), bind-mounted
read-only.  Its busybox is, in this order of preference:

* the host's, when it is a static program (Debian's ``busybox-static`` package);
* the ``busybox-static`` .deb the debug tags of the base images use, when it is in the
  package cache: the one pinned by the bases' lock for this architecture, taken only
  if its sha256 matches the lock, and read with the same code that builds the debug
  layer (:func:`distroless.bases.busybox.busybox_entries`).

The applet list comes from the binary itself (:func:`distroless.bases.busybox.applet_names`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from distroless.bases.busybox import applet_names, busybox_entries
from distroless.errors import DistrolessError, SandboxError
from distroless.runtime.hostbin import is_static_program

#: where the toolbox appears in the container, and what is appended to its PATH
TOOLBOX_PATH = "/.debug"
HOST_BUSYBOX = (Path("/bin/busybox"), Path("/usr/bin/busybox"))
MAX_BUSYBOX = 64 << 20


def _host_busybox() -> bytes | None:
    candidates = [p for p in (shutil.which("busybox"),) if p] + [str(p) for p in HOST_BUSYBOX]
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file() and is_static_program(path) and path.stat().st_size < MAX_BUSYBOX:
            return path.read_bytes()
    return None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _cached_busybox(package_cache: Path, arch: str) -> bytes | None:
    """The locked busybox-static of ``arch`` from the package cache, verified, or None."""
    from distroless.bases.locks import locked_packages, read_lock
    from distroless.bases.recipe import BUSYBOX_PACKAGE, DEFAULT_DISTRO, Recipes
    from distroless.debian.fetch import deb_cache_path
    from distroless.debian.sources import distro as distro_info

    try:
        lock = read_lock(Recipes.builtin(), DEFAULT_DISTRO)
        package = locked_packages(lock, arch, (BUSYBOX_PACKAGE,))[0]
    except DistrolessError:
        return None
    deb = deb_cache_path(package_cache, package.sha256)
    if not deb.is_file() or _sha256_file(deb) != package.sha256.lower():
        return None
    merged_usr = distro_info(DEFAULT_DISTRO).merged_usr
    for entry in busybox_entries(deb, merged_usr=merged_usr):
        if entry.path.endswith("/busybox") and entry.size:
            with entry.open() as fh:
                return fh.read()
    return None


def find_busybox(package_cache: Path, arch: str) -> bytes:
    """A static busybox for the toolbox (see the module docstring for where from)."""
    found = _host_busybox() or _cached_busybox(package_cache, arch)
    if found is None:
        raise SandboxError(
            "the debug toolbox needs a static busybox: install the Debian package "
            "busybox-static, or build a debug base once (distroless bases build "
            "static:debug) so its busybox is in the package cache"
        )
    return found


def toolbox(package_cache: Path, arch: str) -> Path:
    """The toolbox directory for ``arch``, made once per busybox binary."""
    binary = find_busybox(package_cache, arch)
    names = applet_names(binary)
    key = hashlib.sha256(binary).hexdigest()
    root = package_cache / "toolbox"
    final = root / key
    if (final / "busybox").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{key[:12]}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(mode=0o755)
    try:
        fd = os.open(tmp / "busybox", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
        with os.fdopen(fd, "wb") as fh:
            fh.write(binary)
        os.chmod(tmp / "busybox", 0o755)  # noqa: S103 (run by the container's users)
        for name in names:
            if name != "busybox" and "/" not in name:
                os.symlink("busybox", tmp / name)
        os.chmod(tmp, 0o755)  # noqa: S103 (read by the container's users)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "busybox").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another debug made it first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
