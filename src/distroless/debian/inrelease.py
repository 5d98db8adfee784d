"""Verifying a suite's ``InRelease`` file and reading the index hashes it vouches for.

``InRelease`` is the one signed file of a Debian suite: every ``Packages`` index is trusted
only through the SHA256 list inside it.  Only the signed text returned by the verifier is
parsed, never the raw download, so nothing outside the signature can slip in.  A bad
signature, a signature by a key outside the keyring, or a ``Valid-Until`` in the past is
an :class:`IntegrityError` naming the file.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from distroless.debian.keyring import Keyring
from distroless.errors import IntegrityError

CLEARSIGN_HEADER = b"-----BEGIN PGP SIGNED MESSAGE-----"


@dataclass(frozen=True)
class IndexFile:
    """One file listed in the Release ``SHA256`` field."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Release:
    """The fields of a verified Release paragraph that the build relies on."""

    origin: str
    suite: str
    codename: str
    date: datetime
    valid_until: datetime | None
    architectures: tuple[str, ...]
    components: tuple[str, ...]
    acquire_by_hash: bool
    files: Mapping[str, IndexFile] = field(default_factory=dict)
    sha256: str = ""  # of the InRelease file as downloaded


def _parse_date(value: str, field_name: str, name: str) -> datetime:
    try:
        parsed = parsedate_to_datetime(value.replace("UTC", "+0000"))
    except (TypeError, ValueError) as exc:
        raise IntegrityError(f"{name}: unreadable {field_name} {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _fields(text: str, name: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # a Release file is one paragraph
            continue
        if line[0] in " \t":
            if last is None:
                raise IntegrityError(f"{name}: continuation line before any field")
            fields[last] += "\n" + line.strip()
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise IntegrityError(f"{name}: malformed line {line[:60]!r}")
        last = key.strip().lower()
        fields[last] = value.strip()
    return fields


def parse_release(text: str, *, name: str, sha256: str = "") -> Release:
    """Parse the (already verified) text of a Release paragraph."""
    fields = _fields(text, name)
    if "date" not in fields:
        raise IntegrityError(f"{name}: Release has no Date field")
    files: dict[str, IndexFile] = {}
    for line in fields.get("sha256", "").splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or len(parts[0]) != 64 or not parts[1].isdigit():
            raise IntegrityError(f"{name}: malformed SHA256 line {line!r}")
        files[parts[2]] = IndexFile(parts[2], int(parts[1]), parts[0].lower())
    if not files:
        raise IntegrityError(f"{name}: Release lists no SHA256 checksums")
    valid_until = fields.get("valid-until")
    return Release(
        origin=fields.get("origin", ""),
        suite=fields.get("suite", ""),
        codename=fields.get("codename", ""),
        date=_parse_date(fields["date"], "Date", name),
        valid_until=_parse_date(valid_until, "Valid-Until", name) if valid_until else None,
        architectures=tuple(fields.get("architectures", "").split()),
        components=tuple(fields.get("components", "").split()),
        acquire_by_hash=fields.get("acquire-by-hash", "no").lower() == "yes",
        files=files,
        sha256=sha256,
    )


def _verify_pysequoia(data: bytes, keyring: Keyring, name: str) -> bytes:
    import pysequoia

    certs = list(keyring.certs)
    try:
        result = pysequoia.verify(bytes=data, store=lambda _ids: certs)
    except Exception as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IntegrityError(
            f"{name}: signature does not verify against {keyring.describe()} ({detail})"
        ) from exc
    if not result.valid_sigs or result.bytes is None:
        raise IntegrityError(f"{name}: no valid signature by a key in {keyring.describe()}")
    return bytes(result.bytes)


def _verify_gpgv(data: bytes, keyring: Keyring, name: str) -> bytes:
    gpgv = shutil.which("gpgv")
    if gpgv is None:
        raise IntegrityError(f"{name}: cannot verify: neither pysequoia nor gpgv is available")
    with tempfile.TemporaryDirectory() as tmp:
        signed = Path(tmp) / "InRelease"
        signed.write_bytes(data)
        out = Path(tmp) / "Release"
        cmd = [gpgv, "--quiet"]
        for path in keyring.paths:
            cmd += ["--keyring", str(path.resolve())]
        cmd += ["--output", str(out), str(signed)]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0:
            detail = proc.stderr.decode(errors="replace").strip().splitlines()
            raise IntegrityError(
                f"{name}: signature does not verify against {keyring.describe()}"
                + (f" ({detail[-1]})" if detail else "")
            )
        return out.read_bytes()


def verify_inrelease(data: bytes, keyring: Keyring, *, name: str) -> bytes:
    """Check the clearsigned ``data`` against ``keyring`` and return the signed text."""
    if not data.lstrip().startswith(CLEARSIGN_HEADER):
        raise IntegrityError(f"{name}: not a clearsigned InRelease file")
    if keyring.certs:
        return _verify_pysequoia(data, keyring, name)
    return _verify_gpgv(data, keyring, name)


def load_inrelease(
    data: bytes, keyring: Keyring, *, name: str, now: datetime | None = None
) -> Release:
    """Verify ``data`` and parse it; refuses a Release whose ``Valid-Until`` has passed."""
    text = verify_inrelease(data, keyring, name=name)
    release = parse_release(
        text.decode("utf-8", "replace"), name=name, sha256=hashlib.sha256(data).hexdigest()
    )
    moment = now or datetime.now(UTC)
    if release.valid_until is not None and release.valid_until < moment:
        raise IntegrityError(
            f"{name}: Release expired at {release.valid_until.isoformat()} (Valid-Until); "
            "the mirror is stale or replaying an old file"
        )
    return release
