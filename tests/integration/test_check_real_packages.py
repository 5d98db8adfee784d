"""`check` on an image made of real Debian packages that no distroless image may hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Cli

pytestmark = [pytest.mark.network, pytest.mark.unsafe_images]


def test_check_fails_an_image_with_bash_and_apt_naming_both(
    tmp_path: Path, cli: Cli, package_cache: Path
) -> None:
    spec = tmp_path / "image.yaml"
    spec.write_text("packages: [bash, apt]\narchs: [amd64]\n")
    env = {"DISTROLESS_CACHE": str(package_cache)}
    cli("build", "--spec", spec, "-t", "shelly:1", "--no-sbom", env=env).check()
    result = cli("check", "shelly:1", "--json")
    assert result.exit_code == 1
    report = result.json()
    assert isinstance(report, dict)
    findings = {(f["kind"], f["path"]) for f in report["findings"]}
    assert ("shell", "/usr/bin/bash") in findings
    assert ("package-manager", "/usr/bin/apt") in findings
    text = cli("check", "shelly:1")
    assert text.exit_code == 1
    assert "/usr/bin/bash" in text.stdout and "/usr/bin/apt" in text.stdout
