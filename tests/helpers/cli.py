"""Running the ``distroless`` command from tests, in-process or as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner


@dataclass(frozen=True)
class Result:
    """What one ``distroless`` invocation did: exit code and its two output streams."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def json(self) -> object:
        """stdout parsed as JSON (for ``--json`` commands)."""
        return json.loads(self.stdout)

    def check(self) -> Result:
        """Return self if the command succeeded, else fail with everything it printed."""
        if self.exit_code != 0:
            raise AssertionError(
                f"distroless exited {self.exit_code}\n--- stdout ---\n{self.stdout}"
                f"\n--- stderr ---\n{self.stderr}"
            )
        return self


def _argv(args: tuple[str | os.PathLike[str], ...], root: Path | None) -> list[str]:
    prefix = ["--root", str(root)] if root is not None else []
    return prefix + [os.fspath(a) for a in args]


def run_cli(
    *args: str | os.PathLike[str],
    root: Path | None,
    env: Mapping[str, str | None] | None = None,
    input: str | bytes | None = None,
) -> Result:
    """Run ``distroless [--root ROOT] ARGS`` in this process and capture its output.

    Fast, and exceptions that escape the CLI's error mapping propagate with their traceback.
    ``env`` entries are set (``None`` unsets) only for the duration of the call.
    """
    from distroless.cli.main import main

    runner = CliRunner()
    with runner.isolation(input=input, env=dict(env or {})) as streams:
        code = main(_argv(args, root))
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = streams[0], streams[1]
        stdout = out.getvalue().decode("utf-8", "replace")
        stderr = err.getvalue().decode("utf-8", "replace") if err is not None else ""
    return Result(exit_code=int(code or 0), stdout=stdout, stderr=stderr)


def distroless_executable() -> Path:
    """The ``distroless`` script installed next to the running interpreter (the venv's)."""
    beside = Path(sys.executable).parent / "distroless"
    if beside.exists():
        return beside
    found = shutil.which("distroless")
    if found is None:
        raise FileNotFoundError("the distroless command is not installed in this environment")
    return Path(found)


def run_cli_subprocess(
    *args: str | os.PathLike[str],
    root: Path | None,
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,
    timeout: float = 900,
) -> Result:
    """Run the installed ``distroless`` as a child process: the true end-to-end path."""
    merged = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    proc = subprocess.run(
        [str(distroless_executable()), *_argv(args, root)],
        env=merged,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(exit_code=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)


class Cli:
    """``distroless`` bound to one store: ``cli("images", "--json").check().json()``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(
        self,
        *args: str | os.PathLike[str],
        env: Mapping[str, str | None] | None = None,
        input: str | bytes | None = None,
    ) -> Result:
        """Run in-process (fast; tracebacks of unexpected errors propagate)."""
        return run_cli(*args, root=self.root, env=env, input=input)

    def subprocess(
        self,
        *args: str | os.PathLike[str],
        env: Mapping[str, str | None] | None = None,
        input: str | None = None,
    ) -> Result:
        """Run the installed ``distroless`` executable as a child process (end to end)."""
        return run_cli_subprocess(*args, root=self.root, env=env, input=input)
