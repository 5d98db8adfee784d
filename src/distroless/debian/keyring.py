"""The OpenPGP keys that Debian archive signatures are checked against.

The host's ``debian-archive-keyring`` package is preferred because it is kept up to date
by apt; when it is absent (a non-Debian build machine) the public keys shipped with this
package in ``distroless/debian/keys/`` are used.  Tests and private archives pass their
own key files instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distroless.errors import IntegrityError

BUNDLED_DIR = Path(__file__).parent / "keys"


@dataclass(frozen=True)
class Keyring:
    """Trusted certificates plus the files they came from (for messages and fallbacks)."""

    certs: tuple[Any, ...]
    paths: tuple[Path, ...]

    def describe(self) -> str:
        return ", ".join(str(p) for p in self.paths) or "an empty keyring"


def host_keyring_paths(root: Path = Path("/")) -> list[Path]:
    """Debian archive key files installed on the host, in a stable order."""
    keyrings = root / "usr/share/keyrings"
    trusted = root / "etc/apt/trusted.gpg.d"
    found: list[Path] = []
    main = keyrings / "debian-archive-keyring.gpg"
    if main.is_file():
        found.append(main)
    if keyrings.is_dir():
        found += sorted(keyrings.glob("debian-archive-keyring.pgp"))
        found += sorted(p for p in keyrings.glob("debian-archive-*.pgp") if "removed" not in p.name)
    if trusted.is_dir():
        for pattern in ("debian-archive-*.asc", "debian-archive-*.gpg", "debian-archive-*.pgp"):
            found += sorted(p for p in trusted.glob(pattern) if "removed" not in p.name)
    seen: set[Path] = set()
    return [p for p in found if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


def bundled_keyring_paths() -> list[Path]:
    """The Debian archive public keys shipped as package data."""
    return sorted(p for p in BUNDLED_DIR.iterdir() if p.suffix in (".asc", ".gpg", ".pgp"))


def load_keyring(paths: Sequence[Path] | None = None, *, root: Path = Path("/")) -> Keyring:
    """Load certificates from ``paths``, or from the host, or from the bundled keys.

    Raises :class:`IntegrityError` naming the file when a key file cannot be parsed.
    """
    if paths is None:
        paths = host_keyring_paths(root) or bundled_keyring_paths()
    try:
        import pysequoia
    except ImportError:  # verification falls back to gpgv over the same files
        return Keyring((), tuple(paths))
    certs: dict[str, Any] = {}
    for path in paths:
        try:
            loaded = pysequoia.Cert.split_file(str(path))
        except Exception as exc:
            raise IntegrityError(f"cannot read keyring {path}: {exc}") from exc
        for cert in loaded:
            fpr = cert.fingerprint
            certs[fpr] = certs[fpr].merge(cert) if fpr in certs else cert
    if not certs:
        raise IntegrityError(f"no keys found in keyring files: {', '.join(map(str, paths))}")
    return Keyring(tuple(certs[f] for f in sorted(certs)), tuple(paths))
