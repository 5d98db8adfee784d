"""The digests the README shows come out of the commands it shows, read from the README itself.

Four of the README's flows are pinned: ``bases build static`` (the committed base locks),
the spec with ``packages: [ca-certificates, tzdata]``, the examples/hello-go Dockerfile
(its builder, distroless/builder-go, is built from the committed builder lock) and the
multi-platform index joined from two runners' pushes.  The first and the third are
runnable console blocks, so test_readme_console compares their whole output, digests
included; this module pins the spec with packages, whose block also runs ``lock`` against
the archive of the day and so is not runnable, and the runners' block, which needs a
registry.  The test builds it from
the lock kept beside it (``readme/``), made when the README was written; what the README
prints then comes out bit for bit.  The spec with ``myapp`` is not pinned: its digest is
that of a binary compiled by the host's Go in a directory the README does not name.  Nor
are the others the README shows: ``humanize:1`` and ``debian-tools`` lock against the
archive of the day, ``flask-app:1`` against PyPI's wheels, ``make image`` against what pip
picks, and ``hello:1`` holds a host-compiled binary.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from tests.helpers import Cli
from tests.helpers.registry import RegistryFactory

pytestmark = [pytest.mark.integration, pytest.mark.network]

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
LOCKS = Path(__file__).parent / "readme"


def _after(command: str) -> str:
    """The README's console output of ``$ command``, up to the next prompt or fence."""
    start = README.index(f"$ {command}\n") + len(command) + 3
    end = min(i for i in (README.find("\n$ ", start), README.find("\n```", start)) if i >= 0)
    return README[start:end]


def _shown(command: str) -> list[str]:
    """The README's output lines of ``$ command``."""
    return _after(command).strip("\n").splitlines()


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


README_REGISTRY = "127.0.0.1:5000"
RUNNERS = "One multi-platform image from several runners"


def _runners_block() -> list[str]:
    """The ``$ …`` lines of the runners' section, in order."""
    section = README[README.index(f"### {RUNNERS}\n") :]
    section = section[: section.index("\n### ", 1)]
    return [line[2:] for line in section.splitlines() if line.startswith("$ ")]


def test_an_index_joined_from_two_runners(
    registry_factory: RegistryFactory, package_cache: Path, tmp_path: Path
) -> None:
    """Each runner builds static:latest for its platform in its own store and pushes it;
    ``index create`` joins the two.  Every line the section prints comes out as shown,
    digests included, once the test registry's address reads as the README's."""
    registry = registry_factory()
    commands = _runners_block()
    assert len(commands) == 4, commands

    def shown(out: str) -> list[str]:
        return out.replace(registry.url, README_REGISTRY).strip("\n").splitlines()

    for command, arch in zip(commands[:2], ("amd64", "arm64"), strict=True):
        build, push = command.split(" && ")
        assert build == f"distroless bases build static:latest --arch {arch}"
        runner = Cli(tmp_path / f"runner-{arch}")
        built = runner.subprocess(*build.split()[1:], env=_env(package_cache)).check()
        target = push.split()[-1].replace(README_REGISTRY, registry.url)
        assert push.startswith("distroless push distroless/static "), push
        out = runner.subprocess("push", "distroless/static", target, env=_env(package_cache))
        assert shown(built.stdout + out.check().stdout) == _shown(command)

    joiner = Cli(tmp_path / "joiner")
    for command in commands[2:]:
        argv = command.replace(README_REGISTRY, registry.url).split()[1:]
        out = joiner.subprocess(*argv, env=_env(package_cache))
        expected = _shown(command)
        assert out.ok == (not expected[0].startswith("error:")), out.stderr
        assert shown(out.stdout + out.stderr) == expected
