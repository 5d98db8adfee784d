"""``distroless run`` argument handling; nothing here starts a container."""

from __future__ import annotations

from tests.helpers import Cli


def test_tty_is_refused(cli: Cli) -> None:
    result = cli("run", "-t", "img")
    assert result.exit_code == 2
    assert "-t/--tty is not supported" in result.stderr


def test_unknown_option_before_the_image_is_an_error(cli: Cli) -> None:
    result = cli("run", "--bogus", "img")
    assert result.exit_code == 2
    assert "unknown option '--bogus'" in result.stderr


def test_bad_volume_is_a_usage_error(cli: Cli) -> None:
    result = cli("run", "-v", "relative:/x", "img")
    assert result.exit_code == 2
    assert "host path must be absolute" in result.stderr


def test_bad_network_is_refused_by_the_parser(cli: Cli) -> None:
    assert cli("run", "--network", "bridge", "img").exit_code == 2


def test_missing_image_is_not_found(cli: Cli) -> None:
    result = cli("run", "--rm", "no-such-image:latest")
    assert result.exit_code == 4
    assert "no-such-image" in result.stderr
