"""Structure tests: config validation with locations, and every test kind passing and failing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from distroless.errors import InputError
from distroless.layers.entry import Entry
from distroless.oci.models import ContainerConfig
from distroless.verify.fsview import FileSystemView
from distroless.verify.structure import (
    CommandOutput,
    permission_string,
    run_structure_tests,
)
from distroless.verify.structure_config import load_config, parse_config
from tests.verify.fakeimage import base_entries, make_image, package_entries

# These tests build images with shells and setuid files on purpose.
pytestmark = pytest.mark.unsafe_images

CONFIG = """\
schemaVersion: 2.0.0
fileExistenceTests:
  - name: passwd
    path: /etc/passwd
    shouldExist: true
    permissions: -rw-r--r--
    uid: 0
    gid: 0
  - name: wrong permissions
    path: /etc/passwd
    permissions: -rwxrwxrwx
  - name: no shell
    path: /bin/sh
    shouldExist: false
  - name: shell expected (wrong)
    path: /bin/sh
  - name: tmp sticky
    path: /tmp
    permissions: dtrwxrwxrwx
  - name: app executable by other
    path: /app/run
    isExecutableBy: other
  - name: data executable by any (wrong)
    path: /etc/passwd
    isExecutableBy: any
  - name: home owner (wrong)
    path: /home/nonroot
    uid: 0
fileContentTests:
  - name: os-release
    path: /etc/os-release
    expectedContents: ['PRETTY_NAME="Distroless"', 'ID="?debian']
    excludedContents: ['ubuntu']
  - name: os-release wrong
    path: /etc/os-release
    expectedContents: ['ID=alpine']
  - name: missing file
    path: /etc/nothing
metadataTest:
  env:
    - key: PATH
      value: /usr/bin:/bin
    - key: SSL_CERT_FILE
      value: .*\\.crt$
      isRegex: true
  labels:
    - key: org.example.team
      value: core
  entrypoint: ["/app/run"]
  cmd: ["--serve"]
  exposedPorts: ["8080"]
  volumes: ["/data"]
  workdir: /home/nonroot
  user: "65532"
licenseTests:
  - debian: true
    files: []
"""


def image_fs(
    root: Path, *, user: str = "65532", extra: list[Entry] | None = None
) -> FileSystemView:
    config = ContainerConfig(
        user=user,
        env=("PATH=/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
        entrypoint=("/app/run",),
        cmd=("--serve",),
        working_dir="/home/nonroot",
        labels={"org.example.team": "core"},
        exposed_ports=("8080/tcp",),
        volumes=("/data",),
    )
    layers = [
        base_entries(),
        package_entries("base-files", "13.8", {"usr/lib/x": b"x"}, licenses=["GPL-2+"]),
        [Entry.file("app/run", b"ELF", mode=0o755), *(extra or [])],
    ]
    return FileSystemView.from_image(make_image(root, "t/app:nonroot", layers, config=config))


def results(fs: FileSystemView, text: str) -> dict[str, tuple[bool, str]]:
    report = run_structure_tests(fs, parse_config(text, "t.yaml"))
    return {r.name: (r.passed, r.message) for r in report.results}


def test_file_content_metadata_and_license_tests(tmp_path: Path) -> None:
    got = results(image_fs(tmp_path), CONFIG)
    expected_pass = {
        "passwd",
        "no shell",
        "tmp sticky",
        "app executable by other",
        "os-release",
        "Metadata Test",
        "License Test 1",
    }
    expected_fail = {
        "wrong permissions",
        "shell expected (wrong)",
        "data executable by any (wrong)",
        "home owner (wrong)",
        "os-release wrong",
        "missing file",
    }
    assert {n for n, (ok, _) in got.items() if ok} == expected_pass
    assert {n for n, (ok, _) in got.items() if not ok} == expected_fail
    assert "-rw-r--r--" in got["wrong permissions"][1]
    assert "ID=alpine" in got["os-release wrong"][1]


def test_metadata_mismatches_are_listed(tmp_path: Path) -> None:
    fs = image_fs(tmp_path, user="0")
    text = (
        "schemaVersion: 2.0.0\nmetadataTest:\n  user: '65532'\n  entrypoint: [/other]\n"
        "  env: [{key: LANG, value: C.UTF-8}]\n  exposedPorts: ['9090']\n"
        "  unexposedPorts: ['8080']\n  labels: [{key: org.example.team, value: ops}]\n"
    )
    passed, message = results(fs, text)["Metadata Test"]
    assert not passed
    for part in ("user is '0'", "entrypoint", "env LANG", "port 9090", "port 8080", "label"):
        assert part in message


def test_license_test_fails_on_a_banned_license(tmp_path: Path) -> None:
    bad = package_entries("evil", "1", {"usr/lib/e": b"e"}, licenses=["AGPL-3+"])
    orphan = [
        e for e in package_entries("orphan", "1", {"usr/lib/o": b"o"}) if "copyright" not in e.path
    ]
    fs = image_fs(tmp_path, extra=[*bad, *orphan])
    passed, message = results(fs, "schemaVersion: 2.0.0\nlicenseTests: [{debian: true}]\n")[
        "License Test 1"
    ]
    assert not passed
    assert "/usr/share/doc/evil/copyright names the banned license AGPL" in message
    assert "orphan" not in message  # a missing copyright is check's note, as in CST


class FakeRunner:
    """Plays back canned outputs and records what was asked, like a container would."""

    def __init__(self, outputs: Mapping[str, CommandOutput]) -> None:
        self.outputs = outputs
        self.calls: list[tuple[list[list[str]], dict[str, str]]] = []
        self.users: list[str | None] = []

    def run(
        self, commands: Sequence[Sequence[str]], env: Mapping[str, str], user: str | None = None
    ) -> list[CommandOutput]:
        self.calls.append(([list(c) for c in commands], dict(env)))
        self.users.append(user)
        return [self.outputs.get(c[0], CommandOutput("", "not found", 127)) for c in commands]


COMMANDS = """\
schemaVersion: 2.0.0
globalEnvVars: [{key: G, value: "1"}]
commandTests:
  - name: version
    command: /app/run
    args: [--version]
    envVars: [{key: MODE, value: test}]
    expectedOutput: ['^app \\d+\\.\\d+']
    excludedOutput: [debug]
    expectedError: [warn]
    excludedError: [panic]
  - name: wrong exit code
    command: /app/run
    exitCode: 3
  - name: wrong output
    command: /app/run
    expectedOutput: ['^nope']
  - name: failing setup
    setup: [[/missing]]
    command: /app/run
"""


def test_command_tests_through_a_runner(tmp_path: Path) -> None:
    fs = image_fs(tmp_path)
    runner = FakeRunner({"/app/run": CommandOutput("app 1.2\n", "warn: x\n", 0)})
    report = run_structure_tests(fs, parse_config(COMMANDS), runner)
    got = {r.name: r for r in report.results}
    assert got["version"].passed, got["version"].message
    assert (
        not got["wrong exit code"].passed
        and "exit code 0, expected 3" in got["wrong exit code"].message
    )
    assert not got["wrong output"].passed and "'^nope'" in got["wrong output"].message
    assert not got["failing setup"].passed and "setup ['/missing']" in got["failing setup"].message
    assert runner.calls[0] == ([["/app/run", "--version"]], {"G": "1", "MODE": "test"})
    assert runner.calls[3][0] == [["/missing"], ["/app/run"]]


SCHEMA_1 = """
schemaVersion: "1.0.0"
commandTests:
  - name: version
    command: ["/app/run", "--version"]
    expectedOutput: ['^app 1\\.2']
  - name: bare
    command: ["/app/run"]
    exitCode: 0
"""


def test_schema_1_files_run_with_command_as_the_argument_vector(tmp_path: Path) -> None:
    fs = image_fs(tmp_path)
    runner = FakeRunner({"/app/run": CommandOutput("app 1.2\n", "", 0)})
    config = parse_config(SCHEMA_1)
    assert [(t.command, t.args) for t in config.commandTests] == [
        ("/app/run", ["--version"]),
        ("/app/run", []),
    ]
    report = run_structure_tests(fs, config, runner)
    assert report.passed, [r.message for r in report.results]
    assert runner.calls[0][0] == [["/app/run", "--version"]]


def test_schema_1_command_must_be_a_non_empty_list() -> None:
    with pytest.raises(InputError, match=r"t\.yaml:4: commandTests\[0\]\.command"):
        parse_config(
            'schemaVersion: "1.0.0"\ncommandTests:\n  - name: c\n    command: []\n', "t.yaml"
        )


def test_command_tests_without_runtime_fail_with_a_reason(tmp_path: Path) -> None:
    report = run_structure_tests(image_fs(tmp_path), parse_config(COMMANDS))
    assert not report.passed
    assert {r.message for r in report.results} == {"no container runtime given"}


def test_json_and_junit_output(tmp_path: Path) -> None:
    report = run_structure_tests(image_fs(tmp_path), parse_config(CONFIG))
    data = report.to_dict()
    assert data["total"] == len(report.results) and data["failures"] == 6
    root = ET.fromstring(report.to_junit())
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "6"
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert "wrong permissions" in failed and "passwd" not in failed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "schemaVersion: 3.0.0\n",
            r"t\.yaml:1: schemaVersion: Input should be '2\.0\.0' or '1\.0\.0'",
        ),
        (
            "schemaVersion: 2.0.0\nfileExistenceTests:\n  - name: a\n    path: /a\n"
            "  - name: b\n    pathh: /b\n",
            r"t\.yaml:5: fileExistenceTests\[1\]\.path: Field required \(and 1 more problem\)",
        ),
        (
            "schemaVersion: 2.0.0\ncommandTests:\n  - name: c\n    command: x\n"
            "    exitCode: zero\n",
            r"t\.yaml:5: commandTests\[0\]\.exitCode",
        ),
        (
            "schemaVersion: 2.0.0\nfileContentTests:\n  - name: c\n    path: /x\n"
            "    expectedContents: ['ok', '(unclosed']\n",
            r"t\.yaml:5: fileContentTests\[0\]\.expectedContents\[1\]: invalid regex",
        ),
        ("schemaVersion: [\n", r"t\.yaml:2: not valid YAML"),
        ("- just a list\n", r"t\.yaml: expected a mapping"),
    ],
)
def test_config_errors_name_file_line_and_key(text: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        parse_config(text, "t.yaml")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "absent.yaml")


def test_permission_strings_follow_go_file_mode(tmp_path: Path) -> None:
    fs = image_fs(
        tmp_path, extra=[Entry.file("usr/bin/su", b"", mode=0o4755), Entry.symlink("lnk", "app")]
    )
    for path, expected in [
        ("/usr/bin/su", "urwxr-xr-x"),
        ("/tmp", "dtrwxrwxrwx"),
        ("/root", "drwx------"),
        ("/etc/passwd", "-rw-r--r--"),
    ]:
        node = fs.lookup(path)
        assert node is not None and permission_string(node) == expected
    link = fs.lookup("/lnk", follow=False)
    assert link is not None and permission_string(link) == "Lrwxrwxrwx"


class BrokenRunner:
    def run(
        self, commands: Sequence[Sequence[str]], env: Mapping[str, str], user: str | None = None
    ) -> list[CommandOutput]:
        from distroless.errors import SandboxError

        raise SandboxError("runc is not installed; install the Debian package runc")


def test_a_sandbox_error_fails_the_command_test_with_its_reason(tmp_path: Path) -> None:
    report = run_structure_tests(image_fs(tmp_path), parse_config(COMMANDS), BrokenRunner())
    assert not report.passed
    assert all("runc is not installed" in r.message for r in report.results)


def test_container_run_options_user_and_passed_variables(tmp_path: Path) -> None:
    text = COMMANDS.replace(
        "globalEnvVars:",
        "containerRunOptions:\n  user: nonroot\n  envVars: [TOKEN, ABSENT]\nglobalEnvVars:",
    )
    runner = FakeRunner({"/app/run": CommandOutput("app 1.2\n", "warn: x\n", 0)})
    run_structure_tests(image_fs(tmp_path), parse_config(text), runner, host_env={"TOKEN": "t"})
    assert runner.users == ["nonroot"] * 4
    assert runner.calls[0][1] == {"TOKEN": "t", "G": "1", "MODE": "test"}


def test_unsupported_container_run_options_are_refused_where_written() -> None:
    text = "schemaVersion: 2.0.0\ncontainerRunOptions:\n  privileged: true\n"
    with pytest.raises(InputError, match=r"t\.yaml:3: containerRunOptions\.privileged"):
        parse_config(text, "t.yaml")
