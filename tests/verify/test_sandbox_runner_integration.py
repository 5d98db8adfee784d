"""Command tests in the real runc sandbox, against an image holding a static busybox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distroless.layers.entry import Entry, EntryType
from tests.helpers.cli import run_cli
from tests.helpers.require import require_root, require_tool
from tests.verify.fakeimage import PASSWD, make_image

# These tests build images with shells and setuid files on purpose.
pytestmark = [pytest.mark.integration, pytest.mark.unsafe_images]

CONFIG = """\
schemaVersion: 2.0.0
commandTests:
  - name: echo
    command: busybox
    args: [echo, hello]
    expectedOutput: ['^hello$']
  - name: echo wrong
    command: busybox
    args: [echo, hello]
    expectedOutput: [goodbye]
  - name: exit code
    command: /usr/bin/busybox
    args: ['false']
    exitCode: 1
  - name: setup is visible to the command
    setup: [[busybox, touch, /tmp/marker]]
    command: busybox
    args: [ls, /tmp/marker]
    teardown: [[busybox, rm, /tmp/marker]]
  - name: env
    command: busybox
    args: [env]
    envVars: [{key: GREETING, value: hi}]
    expectedOutput: ['GREETING=hi']
    excludedOutput: ['GREETING=bye']
  - name: stderr
    command: busybox
    args: [ls, /nonexistent]
    exitCode: 1
    expectedError: ['nonexistent']
    excludedError: ['^$']
"""


def busybox_image(root: Path) -> None:
    busybox = require_tool("busybox", "/bin/busybox")
    size = busybox.stat().st_size
    layer = [
        Entry.directory("tmp", mode=0o1777),
        Entry.file("etc/passwd", PASSWD),
        Entry(
            path="usr/bin/busybox",
            type=EntryType.FILE,
            mode=0o755,
            size=size,
            opener=lambda: busybox.open("rb"),
        ),
    ]
    make_image(root, "t/busybox:latest", [layer])


def test_command_tests_run_in_one_container_per_test(tmp_path: Path) -> None:
    require_root()
    require_tool("runc")
    busybox_image(tmp_path)
    config = tmp_path / "cst.yaml"
    config.write_text(CONFIG)
    result = run_cli("test", "t/busybox:latest", "--config", config, "--json", root=tmp_path)
    data = json.loads(result.stdout)
    outcome = {r["name"]: (r["passed"], r["message"]) for r in data["results"]}
    assert not outcome["echo wrong"][0]
    assert "goodbye" in outcome["echo wrong"][1]
    wrong = {name for name, (passed, _) in outcome.items() if not passed}
    assert wrong == {"echo wrong"}, outcome
    assert result.exit_code == 1
    assert not list((tmp_path / "state" / "containers").iterdir())
