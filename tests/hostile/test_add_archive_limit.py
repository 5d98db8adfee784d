"""ADD of a compressed archive is one layer, so it is held to the one-layer limit.

A few hundred kilobytes of gzip can expand to gigabytes; the archive is spooled to disk
before its members become entries, so without the limit the whole expansion lands there.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from tests.fuzz.archives import Member, tar_of
from tests.helpers import Cli


def test_add_of_an_archive_expanding_past_the_layer_limit_is_refused(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    bomb = gzip.compress(tar_of([Member("zeros", data=bytes(8 << 20))]), mtime=0)
    (context / "bomb.tar.gz").write_bytes(bomb)
    (context / "Dockerfile").write_text("FROM scratch\nADD bomb.tar.gz /x/\n")
    cli("images").check()
    blobs_before = sorted(os.listdir(cli.root / "blobs" / "sha256"))
    monkeypatch.setenv("DISTROLESS_MAX_LAYER_BYTES", str(1 << 20))

    result = cli("build", "-q", "-t", "bomb", context)

    assert result.exit_code != 0
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, message
    assert "Dockerfile:2:" in message and "1048576 bytes" in message, message
    assert sorted(os.listdir(cli.root / "blobs" / "sha256")) == blobs_before
    assert os.listdir(cli.root / "state" / "build-scratch") == []
