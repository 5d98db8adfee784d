"""The container-structure-test configuration (schemaVersion 2.0.0 or 1.0.0), validated once.

The file format is the one teams already have for their images, so existing test files
work unchanged.  It is parsed with ``yaml.safe_load`` and validated by pydantic at this
boundary; an error names the file, the line and the key path (``commandTests[2].exitCode``)
so it can be fixed without guessing.  Regexes are compiled here too, so a bad pattern is a
configuration error, not a failed test.

container-structure-test still reads schema 1.0.0 files, and published test suites are
written in it: there a command test's ``command`` is the whole argument vector and there
is no ``args``.  Such a file is read as the 2.0.0 file it stands for (first word the
command, the rest its arguments); everything else is the same in both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from distroless.errors import InputError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyValue(_Model):
    key: str
    value: str = ""
    isRegex: bool = False


class CommandTest(_Model):
    name: str
    setup: list[list[str]] = Field(default_factory=list)
    teardown: list[list[str]] = Field(default_factory=list)
    command: str
    args: list[str] = Field(default_factory=list)
    envVars: list[KeyValue] = Field(default_factory=list)
    expectedOutput: list[str] = Field(default_factory=list)
    excludedOutput: list[str] = Field(default_factory=list)
    expectedError: list[str] = Field(default_factory=list)
    excludedError: list[str] = Field(default_factory=list)
    exitCode: int = 0


class FileExistenceTest(_Model):
    name: str
    path: str
    shouldExist: bool = True
    permissions: str | None = None
    uid: int | None = None
    gid: int | None = None
    isExecutableBy: Literal["owner", "group", "any", "other"] | None = None


class FileContentTest(_Model):
    name: str
    path: str
    expectedContents: list[str] = Field(default_factory=list)
    excludedContents: list[str] = Field(default_factory=list)


class MetadataTest(_Model):
    env: list[KeyValue] = Field(default_factory=list)
    labels: list[KeyValue] = Field(default_factory=list)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    exposedPorts: list[str] = Field(default_factory=list)
    unexposedPorts: list[str] = Field(default_factory=list)
    volumes: list[str] = Field(default_factory=list)
    unmountedVolumes: list[str] = Field(default_factory=list)
    workdir: str | None = None
    user: str | None = None


class LicenseTest(_Model):
    debian: bool = False
    files: list[str] = Field(default_factory=list)


class ContainerRunOptions(_Model):
    """How command-test containers start; only what the sandbox can honour is accepted."""

    user: str | None = None
    envVars: list[str] = Field(default_factory=list)  # names copied from the caller's env
    privileged: Literal[False] = False
    allocateTty: Literal[False] = False
    capabilities: list[str] = Field(default_factory=list, max_length=0)
    bindMounts: list[str] = Field(default_factory=list, max_length=0)
    envFile: Literal[""] = ""


class StructureConfig(_Model):
    schemaVersion: Literal["2.0.0", "1.0.0"]
    containerRunOptions: ContainerRunOptions | None = None
    globalEnvVars: list[KeyValue] = Field(default_factory=list)
    commandTests: list[CommandTest] = Field(default_factory=list)
    fileExistenceTests: list[FileExistenceTest] = Field(default_factory=list)
    fileContentTests: list[FileContentTest] = Field(default_factory=list)
    metadataTest: MetadataTest | None = None
    licenseTests: list[LicenseTest] = Field(default_factory=list)


_REGEX_FIELDS = (
    ("commandTests", ("expectedOutput", "excludedOutput", "expectedError", "excludedError")),
    ("fileContentTests", ("expectedContents", "excludedContents")),
)


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    node = value
                    line = key.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _loc_text(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _from_schema_1(data: dict[str, Any]) -> dict[str, Any]:
    """A 1.0.0 configuration as 2.0.0: each ``command: [prog, arg...]`` split in two.

    A test that is not shaped like that is passed on unchanged, so validation names it.
    """
    tests = data.get("commandTests")
    out = {**data, "schemaVersion": "2.0.0"}
    if isinstance(tests, list):
        out["commandTests"] = [_command_from_schema_1(test) for test in tests]
    return out


def _command_from_schema_1(test: Any) -> Any:
    if not isinstance(test, dict) or "args" in test:
        return test
    command = test.get("command")
    if not isinstance(command, list) or not command:
        return test
    return {**test, "command": command[0], "args": command[1:]}


def parse_config(text: str, source: str = "<config>") -> StructureConfig:
    """Validate a structure-test file; errors name ``source``, the line and the key."""
    try:
        data: Any = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{where}: not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a mapping with schemaVersion and test lists")
    if data.get("schemaVersion") == "1.0.0":
        data = _from_schema_1(data)
    try:
        config = StructureConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        line = _line_of(root, loc)
        where = f"{source}:{line}" if line is not None else source
        more = len(exc.errors()) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise InputError(f"{where}: {_loc_text(loc)}: {first['msg']}{tail}") from None
    for section, fields in _REGEX_FIELDS:
        for index, test in enumerate(getattr(config, section)):
            for name in fields:
                for position, pattern in enumerate(getattr(test, name)):
                    try:
                        re.compile(pattern)
                    except re.error as err:
                        loc = (section, index, name, position)
                        line = _line_of(root, loc)
                        raise InputError(
                            f"{source}:{line}: {_loc_text(loc)}: invalid regex {pattern!r} ({err})"
                        ) from None
    return config


def load_config(path: Path) -> StructureConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"structure test file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read structure test file {path}: {exc}") from None
    return parse_config(text, str(path))
