"""A skopeo that speaks sigstore, for tests that need an independent signer and verifier.

Debian 12's skopeo (1.9) is built with sigstore switched off ("Debian-local change:
sigstore disabled"); Debian 13's (1.18) has it.  When the host's skopeo cannot do sigstore,
Debian 13's skopeo and the libraries it links (its own glibc included) are downloaded with
apt from the host's configured mirror (signature-checked against the archive keyring, into a
private apt state directory, nothing installed) and unpacked into the shared test cache.
It runs through that glibc's own dynamic loader, so no chroot is needed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from distroless.debian.sources import discover_mirrors
from tests.helpers import run

PACKAGES = ("skopeo", "libc6", "libgpgme11t64", "libassuan9", "libgpg-error0", "libsqlite3-0")
SUITE = "trixie"
_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
_DISABLED = b"sigstore disabled"


def host_skopeo_has_sigstore(path: Path) -> bool:
    """True when ``path`` has sigstore support compiled in (and not patched out)."""
    probe = run([path, "generate-sigstore-key", "--help"], check=False)
    if probe.returncode != 0:
        return False
    return _DISABLED not in path.read_bytes()


def _apt_options(state: Path) -> list[str]:
    return [
        "-o",
        "APT::Sandbox::User=root",
        "-o",
        f"Dir::State::Lists={state / 'lists'}",
        "-o",
        f"Dir::Cache={state / 'cache'}",
        "-o",
        "Dir::Etc::SourceList=/dev/null",
        "-o",
        f"Dir::Etc::SourceParts={state / 'sources'}",
        "-o",
        "Dir::Etc::Preferences=/dev/null",
        "-o",
        f"Dir::Etc::PreferencesParts={state / 'preferences'}",
    ]


def _download(work: Path) -> Path:
    """Unpack Debian 13's skopeo and its libraries under ``work / "root"``."""
    state = work / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "sources", "preferences"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    mirror = discover_mirrors().main
    (state / "sources" / "debian13.sources").write_text(
        f"Types: deb\nURIs: {mirror}\nSuites: {SUITE}\nComponents: main\nSigned-By: {_KEYRING}\n"
    )
    options = _apt_options(state)
    run(["apt-get", *options, "update", "-qq"], timeout=600)
    debs = work / "debs"
    debs.mkdir()
    run(["apt-get", *options, "download", *PACKAGES], cwd=debs, timeout=600)
    root = work / "root"
    for deb in sorted(debs.glob("*.deb")):
        run(["dpkg-deb", "-x", deb, root])
    return root


def _command(root: Path) -> list[str]:
    loaders = sorted(root.glob("usr/lib*/ld-linux*.so.*"))
    libdirs = sorted(root.glob("usr/lib/*-linux-gnu"))
    if not loaders or not libdirs:
        raise FileNotFoundError(f"no dynamic loader unpacked under {root}")
    return [
        str(loaders[0]),
        "--library-path",
        ":".join(str(d) for d in libdirs),
        str(root / "usr" / "bin" / "skopeo"),
    ]


def debian13_skopeo(cache: Path) -> list[str]:
    """The command that runs Debian 13's skopeo, fetched into ``cache`` once."""
    final = cache / "skopeo-debian13"
    if not (final / "root" / "usr" / "bin" / "skopeo").exists():
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".skopeo-", dir=cache))
        try:
            _download(work)
            shutil.rmtree(work / "apt")
            with contextlib.suppress(OSError):  # another run may have finished first
                os.rename(work, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    command = _command(final / "root")
    version = subprocess.run([*command, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("skopeo version"), version
    return command
