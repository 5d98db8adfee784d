"""Report how long the differential builds took (the suite's budget is a few minutes)."""

from __future__ import annotations

import pytest
from tests.dockerfile.differential.harness import BUILD_TIME


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if BUILD_TIME in terminalreporter.config.stash:
        count, seconds = terminalreporter.config.stash[BUILD_TIME]
        terminalreporter.write_line(f"differential: {count} cases built by both in {seconds:.1f}s")
