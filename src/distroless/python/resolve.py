"""Which wheels fit the image's Python: pip resolves, for the target, without installing.

pip is asked what it *would* install (``install --dry-run --report``) for the base's
interpreter rather than the host's: ``--python-version``, ``--implementation cp``, the
interpreter's ABIs and every manylinux tag the base's glibc satisfies, binary wheels only
(``--only-binary=:all:``).  The report names each wheel's URL and sha256; nothing is
downloaded here beyond the metadata pip needs (indexes that serve it separately, as PyPI
does, spare the wheels themselves).  pip's own configuration (index URL, mirrors,
``PIP_*`` variables) applies, so a private index works as it does for ``pip install``.

Environment markers in requirements are evaluated by pip for the Python version given; a
marker on the machine (``platform_machine``) is evaluated for the host (docs/python.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distroless.errors import PythonPackageError
from distroless.python.target import PythonTarget

_NO_MATCH = re.compile(r"No matching distribution found for (.+)$", re.MULTILINE)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
PIP_TIMEOUT = 600


@dataclass(frozen=True)
class LockedWheel:
    """One wheel to install: its name and version, where it is, what it must hash to."""

    name: str
    version: str
    filename: str
    url: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "version": self.version,
            "filename": self.filename,
            "url": self.url,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> LockedWheel:
        if not isinstance(data, dict):
            raise PythonPackageError(f"{where} must be a JSON object")
        values = {}
        for key in ("name", "version", "filename", "url", "sha256"):
            value = data.get(key)
            if not isinstance(value, str) or not value:
                raise PythonPackageError(f"{where}.{key} must be a non-empty string")
            values[key] = value
        if not _HEX64.match(values["sha256"]):
            raise PythonPackageError(f"{where}.sha256 must be 64 lowercase hex digits")
        if "/" in values["filename"] or not values["filename"].endswith(".whl"):
            raise PythonPackageError(f"{where}.filename must be a wheel file name")
        return cls(**values)


def pip_arguments(target: PythonTarget, requirements: Path, report: Path) -> list[str]:
    """The pip command line: resolve for ``target``, write the report, install nothing."""
    args = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
        "--quiet", "--no-input", "--disable-pip-version-check",
        "--report", str(report),
        # pip takes platform options only with --target; nothing is written there
        "--target", str(report.parent / "target"),
        "--only-binary=:all:",
        "--python-version", target.version,
        "--implementation", "cp",
    ]  # fmt: skip
    for abi in target.abis:
        args += ["--abi", abi]
    for tag in target.platform_tags():
        args += ["--platform", tag]
    return [*args, "-r", str(requirements)]


def _failure(stderr: str, target: PythonTarget) -> PythonPackageError:
    errors = [line for line in stderr.splitlines() if line.startswith("ERROR:")]
    missing = _NO_MATCH.search(stderr)
    if missing is not None:
        name = missing.group(1).strip()
        return PythonPackageError(
            f"{name}: no wheel for {target}; a package published only as a source "
            "distribution cannot be installed here (build it into a wheel, or use a "
            "Dockerfile builder stage, see docs/python.md)"
        )
    detail = errors[-1].removeprefix("ERROR:").strip() if errors else stderr.strip()[-300:]
    return PythonPackageError(f"pip could not resolve the requirements for {target}: {detail}")


def resolve_wheels(target: PythonTarget, requirements: Sequence[str]) -> list[LockedWheel]:
    """The wheels pip chooses for ``requirements`` on ``target``, sorted by name."""
    with tempfile.TemporaryDirectory(prefix="distroless-pip-") as tmp:
        requirements_file = Path(tmp) / "requirements.txt"
        requirements_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        report = Path(tmp) / "report.json"
        env = {**os.environ, "PIP_NO_INPUT": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            done = subprocess.run(
                pip_arguments(target, requirements_file, report),
                capture_output=True,
                text=True,
                env=env,
                timeout=PIP_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PythonPackageError(f"cannot run pip to resolve wheels: {exc}") from None
        if done.returncode != 0:
            raise _failure(done.stderr, target)
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PythonPackageError(f"pip wrote no usable report: {exc}") from None
    return sorted(_wheels(data, target), key=lambda w: w.name.lower())


def _wheels(report: Any, target: PythonTarget) -> list[LockedWheel]:
    out = []
    for item in report.get("install", []) if isinstance(report, dict) else []:
        metadata = item.get("metadata", {})
        info = item.get("download_info", {})
        url = str(info.get("url", ""))
        filename = url.rsplit("/", 1)[-1].split("#", 1)[0]
        hashes = info.get("archive_info", {}).get("hashes", {})
        sha256 = str(hashes.get("sha256", "")).lower()
        name = str(metadata.get("name", filename))
        if not filename.endswith(".whl"):
            raise PythonPackageError(
                f"{name}: pip chose {filename or url}, which is not a wheel, for {target}"
            )
        if not _HEX64.match(sha256):
            raise PythonPackageError(f"{name}: the index gave no sha256 for {filename}")
        out.append(LockedWheel(name, str(metadata.get("version", "")), filename, url, sha256))
    return out
