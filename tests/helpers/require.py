"""The house rule for missing components: fail loudly in CI, skip with a reason elsewhere.

A test that silently skips in CI proves nothing, so CI turns every "cannot start X" into a
failure; on a developer machine the same condition is a skip that names what is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

_FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set to a true-ish value."""
    return os.environ.get("CI", "").strip().lower() not in _FALSE_WORDS


def unavailable(reason: str) -> NoReturn:
    """Stop the current test because a component is missing: fail in CI, skip elsewhere."""
    if in_ci():
        pytest.fail(f"required component unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require(condition: object, reason: str) -> None:
    """Continue only if ``condition`` holds; otherwise :func:`unavailable` with ``reason``."""
    if not condition:
        unavailable(reason)


def require_root() -> None:
    """Components such as dockerd and runc need root; say so instead of failing obscurely."""
    require(os.geteuid() == 0, "needs root")


def require_tool(name: str, *candidates: str) -> Path:
    """Return the path of executable ``name`` (PATH first, then ``candidates``) or stop the test."""
    found = shutil.which(name)
    if found is None:
        for candidate in candidates:
            if os.access(candidate, os.X_OK):
                found = candidate
                break
    require(found is not None, f"{name} is not installed")
    assert found is not None
    return Path(found)
