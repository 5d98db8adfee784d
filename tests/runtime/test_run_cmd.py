"""``distroless run`` argument handling; nothing here starts a container."""

from __future__ import annotations

from tests.helpers import Cli


def test_interactive_tty_without_a_terminal_is_refused(cli: Cli) -> None:
    result = cli("run", "-it", "img")  # the test runner's stdin is no terminal
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: the input device is not a TTY; drop -t, or run from a terminal"
    ]


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
