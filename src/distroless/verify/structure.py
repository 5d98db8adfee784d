"""Running container-structure tests against an image.

File, content, metadata and license tests read the image through
:class:`~distroless.verify.fsview.FileSystemView` and its config, so they need neither
root nor a sandbox.  Command tests need a running container; they go through a
:class:`CommandRunner` (the runc sandbox in production, a fake in unit tests).  An image
without a shell has nothing to interpret a command line, so ``command`` is executed
directly with ``args`` as its arguments, exactly as container-structure-test does.
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from distroless.errors import DistrolessError
from distroless.layers.entry import EntryType
from distroless.verify.fsview import FileSystemView, Node
from distroless.verify.packages import DOC_DIR, copyright_licenses
from distroless.verify.structure_config import (
    CommandTest,
    FileContentTest,
    FileExistenceTest,
    KeyValue,
    LicenseTest,
    MetadataTest,
    StructureConfig,
)

# Licenses whose presence fails a license test: they impose obligations (network copyleft,
# non-commercial use, source-available terms) that shipping an image can trigger.
BANNED_LICENSES = (
    "AGPL",
    "CC-BY-NC",
    "Commons-Clause",
    "SSPL",
    "WTFPL",
    "BUSL",
)


@dataclass(frozen=True)
class CommandOutput:
    stdout: str
    stderr: str
    exit_code: int


class CommandRunner(Protocol):
    """Runs argv lists one after the other in ONE container of the image under test.

    Setup commands' changes must be visible to the test command, as in a shared container.
    """

    def run(
        self, commands: Sequence[Sequence[str]], env: Mapping[str, str], user: str | None = None
    ) -> list[CommandOutput]: ...


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one test; ``message`` says what differed when it failed."""

    kind: str
    name: str
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "passed": self.passed,
            "message": self.message,
        }


@dataclass(frozen=True)
class StructureReport:
    image: str
    digest: str
    results: tuple[CaseResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "digest": self.digest,
            "passed": self.passed,
            "total": len(self.results),
            "failures": len(self.failures),
            "results": [r.to_dict() for r in self.results],
        }

    def to_junit(self) -> bytes:
        """JUnit XML, the format CI systems display; one ``testcase`` per test."""
        suite = ET.Element(
            "testsuite",
            name=f"structure tests of {self.image}",
            tests=str(len(self.results)),
            failures=str(len(self.failures)),
            errors="0",
        )
        for result in self.results:
            case = ET.SubElement(suite, "testcase", classname=result.kind, name=result.name)
            if not result.passed:
                failure = ET.SubElement(case, "failure", message=result.message)
                failure.text = result.message
        suites = ET.Element("testsuites")
        suites.append(suite)
        ET.indent(suites)
        data: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
        return data + b"\n"


# -- helpers -------------------------------------------------------------------------------

_TYPE_LETTERS = {
    EntryType.DIR: "d",
    EntryType.SYMLINK: "L",
    EntryType.FIFO: "p",
    EntryType.CHAR: "Dc",
    EntryType.BLOCK: "D",
}


def permission_string(node: Node) -> str:
    """The mode as Go's ``os.FileMode.String`` writes it, which is what test files contain.

    ``-rw-r--r--`` for a file, ``drwxr-xr-x`` for a directory, ``dtrwxrwxrwx`` for a
    sticky one, ``urwxr-xr-x`` for a setuid file: type and special letters, then rwx.
    """
    prefix = _TYPE_LETTERS.get(node.type, "")
    if node.mode & 0o4000:
        prefix += "u"
    if node.mode & 0o2000:
        prefix += "g"
    if node.mode & 0o1000:
        prefix += "t"
    bits = "".join(
        letter if node.mode & (1 << (8 - i)) else "-" for i, letter in enumerate("rwxrwxrwx")
    )
    return (prefix or "-") + bits


def _missing(patterns: Iterable[str], text: str) -> list[str]:
    return [p for p in patterns if not re.search(p, text)]


def _present(patterns: Iterable[str], text: str) -> list[str]:
    return [p for p in patterns if re.search(p, text)]


def _short(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _value_matches(expected: KeyValue, actual: str) -> bool:
    if expected.isRegex:
        return re.search(expected.value, actual) is not None
    return expected.value == actual


# -- pure tests ----------------------------------------------------------------------------


def run_file_existence(fs: FileSystemView, test: FileExistenceTest) -> CaseResult:
    kind = "fileExistence"
    link = fs.lookup(test.path, follow=False)
    node = fs.lookup(test.path) or link
    if not test.shouldExist:
        if link is None:
            return CaseResult(kind, test.name, True, f"{test.path} does not exist")
        return CaseResult(kind, test.name, False, f"{test.path} exists but should not")
    if node is None:
        return CaseResult(kind, test.name, False, f"{test.path} does not exist")
    problems = []
    if test.permissions is not None and permission_string(node) != test.permissions:
        problems.append(f"permissions are {permission_string(node)}, expected {test.permissions}")
    if test.uid is not None and node.uid != test.uid:
        problems.append(f"uid is {node.uid}, expected {test.uid}")
    if test.gid is not None and node.gid != test.gid:
        problems.append(f"gid is {node.gid}, expected {test.gid}")
    if test.isExecutableBy is not None:
        mask = {"owner": 0o100, "group": 0o010, "other": 0o001, "any": 0o111}[test.isExecutableBy]
        if not node.mode & mask:
            problems.append(f"not executable by {test.isExecutableBy} (mode {node.mode:04o})")
    if problems:
        return CaseResult(kind, test.name, False, f"{test.path}: " + "; ".join(problems))
    return CaseResult(kind, test.name, True, f"{test.path} exists as expected")


def run_file_content(fs: FileSystemView, test: FileContentTest) -> CaseResult:
    kind = "fileContent"
    node = fs.lookup(test.path)
    if node is None or not node.is_file:
        return CaseResult(kind, test.name, False, f"{test.path} is not a file in the image")
    text = fs.read_text(test.path, limit=64 << 20)
    problems = [f"expected {p!r} not found" for p in _missing(test.expectedContents, text)]
    problems += [f"excluded {p!r} found" for p in _present(test.excludedContents, text)]
    if problems:
        return CaseResult(kind, test.name, False, f"{test.path}: " + "; ".join(problems))
    return CaseResult(kind, test.name, True, f"{test.path} content matches")


def run_metadata(fs: FileSystemView, test: MetadataTest) -> CaseResult:
    config = fs.image.config.config
    problems: list[str] = []
    env = config.env_map()
    for item in test.env:
        if item.key not in env:
            problems.append(f"env {item.key} is not set")
        elif not _value_matches(item, env[item.key]):
            problems.append(f"env {item.key}={env[item.key]!r}, expected {item.value!r}")
    for item in test.labels:
        if item.key not in config.labels:
            problems.append(f"label {item.key} is not set")
        elif not _value_matches(item, config.labels[item.key]):
            problems.append(
                f"label {item.key}={config.labels[item.key]!r}, expected {item.value!r}"
            )
    if test.entrypoint is not None and list(config.entrypoint or ()) != test.entrypoint:
        problems.append(
            f"entrypoint is {list(config.entrypoint or ())}, expected {test.entrypoint}"
        )
    if test.cmd is not None and list(config.cmd or ()) != test.cmd:
        problems.append(f"cmd is {list(config.cmd or ())}, expected {test.cmd}")
    if test.workdir is not None and config.working_dir != test.workdir:
        problems.append(f"workdir is {config.working_dir!r}, expected {test.workdir!r}")
    if test.user is not None and config.user != test.user:
        problems.append(f"user is {config.user!r}, expected {test.user!r}")

    def port(p: str) -> str:
        return p if "/" in p else p + "/tcp"

    exposed = {port(p) for p in config.exposed_ports}
    problems += [f"port {p} is not exposed" for p in test.exposedPorts if port(p) not in exposed]
    problems += [f"port {p} is exposed" for p in test.unexposedPorts if port(p) in exposed]
    volumes = set(config.volumes)
    problems += [f"volume {v} is not declared" for v in test.volumes if v not in volumes]
    problems += [f"volume {v} is declared" for v in test.unmountedVolumes if v in volumes]
    if problems:
        return CaseResult("metadata", "Metadata Test", False, "; ".join(problems))
    return CaseResult("metadata", "Metadata Test", True, "image config matches")


def _banned_in(fs: FileSystemView, path: str) -> list[str]:
    text = fs.read_text(path, limit=16 << 20)
    names = copyright_licenses(text)
    haystack = "\n".join(names) if names else text
    return [b for b in BANNED_LICENSES if b.lower() in haystack.lower()]


def run_license(fs: FileSystemView, test: LicenseTest, index: int) -> CaseResult:
    name = f"License Test {index + 1}"
    problems: list[str] = []
    paths: list[str] = []
    if test.debian:
        for entry in fs.listdir(DOC_DIR):
            path = posixpath.join(DOC_DIR, entry, "copyright")
            node = fs.lookup(path)
            if node is not None and node.is_file:
                paths.append(path)
    for path in test.files:
        node = fs.lookup(path)
        if node is None or not node.is_file:
            problems.append(f"{path} is not a file in the image")
        else:
            paths.append(path)
    for path in paths:
        for banned in _banned_in(fs, path):
            problems.append(f"{path} names the banned license {banned}")
    if problems:
        return CaseResult("license", name, False, "; ".join(problems))
    return CaseResult("license", name, True, f"{len(paths)} license files checked")


# -- command tests ---------------------------------------------------------------------


def run_command_test(
    runner: CommandRunner,
    test: CommandTest,
    global_env: Sequence[KeyValue],
    *,
    base_env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> CaseResult:
    kind = "command"
    env = dict(base_env or {})
    env.update({e.key: e.value for e in global_env})
    env.update({e.key: e.value for e in test.envVars})
    commands = [*test.setup, [test.command, *test.args], *test.teardown]
    if any(not c for c in commands):
        return CaseResult(kind, test.name, False, "an empty command was given")
    try:
        outputs = runner.run(commands, env, user)
    except DistrolessError as exc:
        return CaseResult(kind, test.name, False, f"could not run {test.command}: {exc}")
    for command, output in zip(test.setup, outputs, strict=False):
        if output.exit_code != 0:
            return CaseResult(
                kind,
                test.name,
                False,
                f"setup {command} exited {output.exit_code}: {_short(output.stderr)}",
            )
    result = outputs[len(test.setup)]
    problems = []
    if result.exit_code != test.exitCode:
        problems.append(f"exit code {result.exit_code}, expected {test.exitCode}")
    problems += [f"stdout lacks {p!r}" for p in _missing(test.expectedOutput, result.stdout)]
    problems += [f"stdout has {p!r}" for p in _present(test.excludedOutput, result.stdout)]
    problems += [f"stderr lacks {p!r}" for p in _missing(test.expectedError, result.stderr)]
    problems += [f"stderr has {p!r}" for p in _present(test.excludedError, result.stderr)]
    if problems:
        detail = f" (stdout: {_short(result.stdout)!r}, stderr: {_short(result.stderr)!r})"
        return CaseResult(kind, test.name, False, "; ".join(problems) + detail)
    return CaseResult(kind, test.name, True, f"{test.command} behaved as expected")


def run_structure_tests(
    fs: FileSystemView,
    config: StructureConfig,
    runner: CommandRunner | None = None,
    *,
    host_env: Mapping[str, str] | None = None,
) -> StructureReport:
    """Run every test of ``config`` against the image of ``fs``, in file order per kind.

    Command tests need ``runner``; without one each is reported as failed, saying why,
    rather than silently skipped.  ``host_env`` supplies the variables that
    ``containerRunOptions.envVars`` names (the caller's environment, passed explicitly).
    """
    options = config.containerRunOptions
    passed_env = {
        name: (host_env or {})[name]
        for name in (options.envVars if options else [])
        if name in (host_env or {})
    }
    user = options.user if options else None
    results: list[CaseResult] = []
    for command_test in config.commandTests:
        if runner is None:
            results.append(
                CaseResult("command", command_test.name, False, "no container runtime given")
            )
        else:
            results.append(
                run_command_test(
                    runner, command_test, config.globalEnvVars, base_env=passed_env, user=user
                )
            )
    results += [run_file_existence(fs, t) for t in config.fileExistenceTests]
    results += [run_file_content(fs, t) for t in config.fileContentTests]
    if config.metadataTest is not None:
        results.append(run_metadata(fs, config.metadataTest))
    results += [run_license(fs, t, i) for i, t in enumerate(config.licenseTests)]
    return StructureReport(fs.image.name, fs.image.digest, tuple(results))
