"""skopeo and umoci: independent readers of what we write, wrapped to raise with stderr."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from tests.helpers.proc import run


@cache
def _policy_file() -> Path:
    """A signature policy accepting everything, so results never depend on the host's policy."""
    fd, name = tempfile.mkstemp(prefix="distroless-test-policy-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump({"default": [{"type": "insecureAcceptAnything"}]}, fh)
    return Path(name)


@cache
def _auth_file() -> Path:
    """An empty credentials file, so the host's stored logins never leak into a test."""
    fd, name = tempfile.mkstemp(prefix="distroless-test-auth-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump({"auths": {}}, fh)
    return Path(name)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (Debian package {name})")
    return found


def skopeo(
    *args: str | os.PathLike[str], check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``skopeo --policy <accept-all> ARGS``; raises CommandFailed (with stderr) on failure.

    Registry credentials come only from the arguments (``--dest-creds`` ...); plain-HTTP
    registries need ``--src-tls-verify=false`` / ``--dest-tls-verify=false``.
    """
    return run(
        [_tool("skopeo"), "--policy", _policy_file(), *args],
        check=check,
        env={"REGISTRY_AUTH_FILE": str(_auth_file())},
        timeout=timeout,
    )


def umoci(
    *args: str | os.PathLike[str], check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``umoci ARGS``; raises CommandFailed (with stderr) on failure."""
    return run([_tool("umoci"), *args], check=check, timeout=timeout)


def skopeo_inspect(ref: str, *extra: str, raw: bool = False) -> object:
    """``skopeo inspect [--raw] REF`` parsed as JSON (e.g. ``oci:DIR:TAG``, ``docker://...``)."""
    argv = ["inspect", *(["--raw"] if raw else []), *extra, ref]
    return json.loads(skopeo(*argv).stdout)
