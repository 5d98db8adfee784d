"""Fixtures for the signing tests: a skopeo with sigstore support."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from distroless.errors import DistrolessError
from tests.conftest import PACKAGE_CACHE
from tests.helpers import CommandFailed, unavailable
from tests.sign.sigstore_skopeo import debian13_skopeo, host_skopeo_has_sigstore


@pytest.fixture(scope="session")
def sigstore_skopeo() -> list[str]:
    """argv prefix of a skopeo that signs and verifies sigstore signatures.

    The host's when it can; otherwise Debian 13's, fetched once into the shared test cache.
    """
    found = shutil.which("skopeo")
    if found is not None and host_skopeo_has_sigstore(Path(found)):
        return [found]
    try:
        return debian13_skopeo(PACKAGE_CACHE.parent)
    except (CommandFailed, subprocess.CalledProcessError, OSError, DistrolessError) as exc:
        unavailable(f"no skopeo with sigstore support: {exc}")
