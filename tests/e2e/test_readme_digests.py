"""The digests the README shows come out of the commands it shows, read from the README itself.

Three of the README's flows are pinned: ``bases build static`` (the committed base locks),
the spec with ``packages: [ca-certificates, tzdata]`` and the examples/hello-go Dockerfile
(its builder, distroless/builder-go, is built from the committed builder lock).  The first
and the last are runnable console blocks, so test_readme_console compares their whole
output, digests included; this module pins the spec with packages, whose block also runs
``lock`` against the archive of the day and so is not runnable.  The test builds it from
the lock kept beside it (``readme/``), made when the README was written; what the README
prints then comes out bit for bit.  The spec with ``myapp`` is not pinned: its digest is
that of a binary compiled by the host's Go in a directory the README does not name.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from tests.helpers import Cli

pytestmark = [pytest.mark.integration, pytest.mark.network]

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
LOCKS = Path(__file__).parent / "readme"


def _after(command: str) -> str:
    """The README's console output of ``$ command``, up to the next prompt or fence."""
    start = README.index(f"$ {command}\n") + len(command) + 3
    end = min(i for i in (README.find("\n$ ", start), README.find("\n```", start)) if i >= 0)
    return README[start:end]


def _built(command: str) -> str:
    match = re.search(r"Built (sha256:[0-9a-f]{64})", _after(command))
    assert match is not None, f"the README shows no digest after {command!r}"
    return match.group(1)


def _env(package_cache: Path) -> dict[str, str | None]:
    return {"DISTROLESS_CACHE": str(package_cache), "SOURCE_DATE_EPOCH": None}


def test_a_spec_with_packages(cli: Cli, package_cache: Path, tmp_path: Path) -> None:
    spec = tmp_path / "image.yaml"
    spec.write_text("packages: [ca-certificates, tzdata]\narchs: [amd64, arm64]\n")
    shutil.copy(LOCKS / "packages.lock.json", tmp_path / "image.lock.json")
    out = cli.subprocess("build", "--spec", spec, "-t", "app:1", env=_env(package_cache)).check()
    assert out.stdout.strip() == f"Built {_built('distroless build --spec image.yaml -t app:1')}"
