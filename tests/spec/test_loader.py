from __future__ import annotations

from pathlib import Path

import pytest

from distroless.errors import SpecError
from distroless.spec import load_spec, parse_spec


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "image.yaml"
    path.write_text(text)
    return path


def test_full_spec(tmp_path: Path) -> None:
    (tmp_path / "app").write_bytes(b"x")
    spec = load_spec(
        _spec(
            tmp_path,
            """
base: scratch
archs: [amd64, arm64]
files:
  - {src: app, dst: /app, mode: 0755, uid: 65532, gid: 65532}
  - {dst: /etc/motd, content: "hi\\n", mode: "0600"}
  - {dst: /tmp, type: directory, mode: 01777}
  - {dst: /usr/bin/app, symlink: /app}
entrypoint: ["/app"]
cmd: --serve
env: {A: "1"}
workdir: /work
user: 65532
labels: {b: "2", a: "1"}
""",
        )
    )
    assert spec.archs == ("amd64", "arm64")
    assert spec.files[0].src == (tmp_path / "app").resolve()
    assert spec.files[0].mode == 0o755
    assert spec.files[1].mode == 0o600
    assert spec.files[2].directory and spec.files[2].mode == 0o1777
    assert spec.cmd == ("--serve",)
    assert spec.user == "65532"
    assert spec.labels == (("a", "1"), ("b", "2"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("base: scratch\nbogus: 1\n", r"image.yaml:2: unknown key 'bogus'"),
        (
            "files:\n  - dst: /a\n    content: x\n    color: red\n",
            r":4: unknown key 'files.0.color'",
        ),
        ("env:\n  A: 1\n", r":2: key 'env.A'"),
        ("archs: [amd64, sparc]\n", r":1: key 'archs.1'"),
        ("files:\n  - dst: relative\n    content: x\n", r":2: key 'files.0.dst'.*absolute"),
        ("files:\n  - dst: /a\n", r":2: files entry '/a' needs exactly one of"),
        (
            "files:\n  - dst: /a\n    src: missing\n",
            r":2: files entry src 'missing' does not exist",
        ),
        ("files:\n  - dst: /a\n    content: x\n    mode: '99'\n", r"mode '99' is not an octal"),
        ("- just\n- a list\n", r":1: the spec must be a mapping"),
        ("base: [unclosed\n", r"invalid YAML"),
        ("resolve: 'yes'\n", r":1: key 'resolve'"),
    ],
)
def test_errors_name_key_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(_spec(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "nope.yaml")


def test_empty_spec_is_scratch(tmp_path: Path) -> None:
    spec = parse_spec("", tmp_path / "image.yaml")
    assert spec.base == "scratch"
    assert spec.lock_path == tmp_path / "image.lock.json"


def test_docker_config_keys(tmp_path: Path) -> None:
    spec = load_spec(
        _spec(
            tmp_path,
            """
expose: [8080, "53/udp", 8080]
volumes: [/data, /cache/../data2]
stopsignal: SIGINT
healthcheck:
  test: [/app, --health]
  interval: 1m30s
  timeout: 500ms
  retries: 3
""",
        )
    )
    assert spec.expose == ("53/udp", "8080/tcp")
    assert spec.volumes == ("/data", "/data2")
    assert spec.stopsignal == "SIGINT"
    assert dict(spec.healthcheck or ()) == {
        "Test": ("CMD", "/app", "--health"),
        "Interval": 90 * 10**9,
        "Timeout": 500 * 10**6,
        "Retries": 3,
    }


def test_healthcheck_none_and_shell_form(tmp_path: Path) -> None:
    assert load_spec(_spec(tmp_path, "healthcheck: none\n")).healthcheck == (("Test", ("NONE",)),)
    shell = load_spec(_spec(tmp_path, "healthcheck: {test: 'curl -f x'}\n")).healthcheck
    assert shell == (("Test", ("CMD-SHELL", "curl -f x")),)


def test_python_key(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("flask\n")
    spec = load_spec(_spec(tmp_path, "python: {requirements: requirements.txt, version: '3.13'}\n"))
    assert spec.python is not None
    assert spec.python.requirements == (tmp_path / "requirements.txt").resolve()
    assert spec.python.version == "3.13"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("expose: [70000]\n", r"image.yaml:1: expose 70000 is not a port"),
        ("expose: [http]\n", r"expose 'http' is not a port"),
        ("volumes: [data]\n", r"volume 'data' must be an absolute path"),
        ("healthcheck: {test: [x], interval: soon}\n", r"key 'healthcheck.*interval"),
        ("python: {requirements: missing.txt}\n", r"python 'missing.txt' is not a file"),
        ("python: {}\n", r"python needs exactly one of requirements or pyproject"),
        ("python: {requirements: image.yaml, version: '3.x'}\n", r"version '3.x' is not like"),
        ("management_packages: dpkg\n", r"key 'management_packages'"),
    ],
)
def test_bad_new_keys(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        load_spec(_spec(tmp_path, text))
    assert "\n" not in str(caught.value)
