"""Without a mount program (the tool's own image has none) an overlay fails with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.errors import SandboxError
from distroless.runtime.rootfs import mount_overlay


def test_missing_mount_program_is_a_sandbox_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    dirs = [tmp_path / n for n in ("lower", "upper", "work", "root")]
    for d in dirs:
        d.mkdir()
    with pytest.raises(SandboxError, match="mount program is not installed"):
        mount_overlay([dirs[0]], dirs[1], dirs[2], dirs[3])
