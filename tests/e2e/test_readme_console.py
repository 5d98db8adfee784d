"""The README's runnable console blocks print, run today, what the README shows.

A console block is runnable when the line just before its fence is ``<!-- runnable -->``
(Markdown renders nothing of it).  In such a block every line starting ``$ `` is a
``distroless`` command, and the lines up to the next ``$ `` are its output: stdout and
stderr together, as a terminal shows them.  The blocks run in README order, one command
after the other, without a shell (the line is split as a shell would split it, ``# …``
comments dropped), in one working directory that holds a copy of ``examples/`` and with
one fresh store (``DISTROLESS_ROOT``) and the persistent package cache.  Every command
must exit 0.  A block that needs what a fresh store cannot give cheaply (a registry, the
Docker engine, a terminal, a page fetched from outside, the Debian archive of the day)
stays unmarked.

Nothing is set up first: the Dockerfile example's builder, distroless/builder-go, and its
base are built by the first build from their recipes and committed locks, as ``make demo``
does, so the example builds bit for bit.

Output is compared line by line after normalising, on both sides, only what has to vary
from one run to the next:

- a README line holding only ``...`` stands for any number of lines (a long JSON shown
  in part);
- trailing spaces and trailing blank lines are dropped, and a run of two or more spaces
  inside a line counts as one gap (table columns widen with what is in them);
- a container id that ``run -d`` printed, and its first 12 characters, read ``<id>``;
- durations as ``ps`` words them (``8 seconds ago``, ``Up 2 minutes``, ``Less than a
  second ago``) read ``<duration>``, and log time stamps (``[01/Dec/2026 13:13:28]``)
  read ``[<time>]``;
- the working directory reads ``/tmp/app`` and the store ``$STORE``, as the README
  writes them.

Digests, sizes and everything else are compared as they are: they are what the README
promises.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.helpers import distroless_executable, require_root, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.network]

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MARKER = "<!-- runnable -->"
ELLIPSIS = "..."
_HEX_ID = re.compile(r"[0-9a-f]{64}")
_DURATION = re.compile(
    r"\b(?:Less than a second|About an? (?:minute|hour)"
    r"|\d+ (?:second|minute|hour|day|week|month|year)s?)\b"
)
_LOG_TIME = re.compile(r"\[\d{2}/[A-Z][a-z]{2}/\d{4} \d{2}:\d{2}:\d{2}\]")
_GAP = re.compile(r"(?<=\S) {2,}")


@dataclass(frozen=True)
class Step:
    """One ``$ command`` of a block and the output the README shows for it."""

    line: int
    command: str
    expected: tuple[str, ...]

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command, comments=True)


@dataclass(frozen=True)
class Block:
    line: int
    steps: tuple[Step, ...]


def runnable_blocks(text: str) -> list[Block]:
    """The marked console blocks of ``text``; a misplaced marker is an error, not a skip."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != MARKER:
            index += 1
            continue
        where = f"README.md:{index + 1}"
        if index + 1 >= len(lines) or lines[index + 1].strip() != "```console":
            raise ValueError(f"{where}: {MARKER} must come just before a ```console fence")
        steps: list[Step] = []
        cursor = index + 2
        while cursor < len(lines) and lines[cursor].strip() != "```":
            line = lines[cursor]
            if line.startswith("$ "):
                steps.append(Step(cursor + 1, line[2:], ()))
            elif not steps:
                raise ValueError(f"README.md:{cursor + 1}: output before the first command")
            else:
                last = steps[-1]
                steps[-1] = Step(last.line, last.command, (*last.expected, line))
            cursor += 1
        if cursor >= len(lines):
            raise ValueError(f"{where}: the runnable block is not closed")
        if not steps:
            raise ValueError(f"{where}: the runnable block holds no command")
        for step in steps:
            if step.argv[:1] != ["distroless"]:
                raise ValueError(f"README.md:{step.line}: not a distroless command: {step.command}")
        blocks.append(Block(index + 1, tuple(steps)))
        index = cursor + 1
    return blocks


def detached_ids(step: Step, output: Sequence[str]) -> set[str]:
    """The container id a ``run -d`` printed (its output's first line), if it is one."""
    argv = step.argv
    if argv[1:2] != ["run"] or not {"-d", "--detach"} & set(argv) or not output:
        return set()
    first = output[0].strip()
    return {first} if _HEX_ID.fullmatch(first) else set()


def normalise(
    lines: Iterable[str],
    ids: Iterable[str] = (),
    paths: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """The rules of the module docstring, but the ellipsis (see :func:`matches`)."""
    out: list[str] = []
    known = sorted(ids)
    for raw in lines:
        line = raw.rstrip()
        for path, shown in paths:
            line = line.replace(path, shown)
        for hex_id in known:
            line = line.replace(hex_id, "<id>").replace(hex_id[:12], "<id>")
        line = _DURATION.sub("<duration>", line)
        line = _LOG_TIME.sub("[<time>]", line)
        out.append(_GAP.sub("  ", line))
    while out and not out[-1]:
        out.pop()
    return out


def matches(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """Whether ``actual`` is ``expected`` with each ``...`` line standing for any lines."""
    pattern = "".join(
        r"(?:.*\n)*?" if line == ELLIPSIS else re.escape(line) + r"\n" for line in expected
    )
    return re.fullmatch(pattern, "".join(line + "\n" for line in actual)) is not None


# --- the parts, on small inputs ------------------------------------------------------------


def test_the_readme_marks_console_blocks_of_distroless_commands() -> None:
    blocks = runnable_blocks(README.read_text())
    commands = [step.argv[1] for block in blocks for step in block.steps]
    # the flows the issue names: build, images, inspect, check, run, sbom, bases
    assert {"build", "run", "inspect", "check", "sbom", "bases", "debug"} <= set(commands)
    with pytest.raises(ValueError, match="just before a ```console fence"):
        runnable_blocks(f"{MARKER}\n```sh\n$ distroless images\n```\n")
    with pytest.raises(ValueError, match="not a distroless command"):
        runnable_blocks(f"{MARKER}\n```console\n$ docker images\n```\n")


def test_normalising_keeps_digests_and_drops_what_varies() -> None:
    hex_id = "4b115346172d7219519a8cb4ff081579975d3c3bb82789918e3468ecb06bf89d"
    shown = [
        f"{hex_id[:12]}   distroless/python3   8 seconds ago    Up 8 seconds   web",
        'x - - [01/Dec/2026 13:13:28] "GET / HTTP/1.1" 200 -',
        "Wrote /var/tmp/t/app/image.lock.json   ",
        "Built sha256:26716811e18e1f96b70255ce14686c6be5707a3b3a565375e2db88137bb84b6b",
        "",
    ]
    assert normalise(shown, {hex_id}, [("/var/tmp/t/app", "/tmp/app")]) == [
        "<id>  distroless/python3  <duration> ago  Up <duration>  web",
        'x - - [<time>] "GET / HTTP/1.1" 200 -',
        "Wrote /tmp/app/image.lock.json",
        "Built sha256:26716811e18e1f96b70255ce14686c6be5707a3b3a565375e2db88137bb84b6b",
    ]
    step = Step(1, "distroless run -d --name web img", ())
    assert detached_ids(step, [hex_id]) == {hex_id}
    assert detached_ids(Step(1, "distroless run img", ()), [hex_id]) == set()
    assert matches(["{", ELLIPSIS, '  "b": 2', ELLIPSIS, "}"], ["{", '  "a": 1', '  "b": 2', "}"])
    assert not matches(["{", ELLIPSIS, '  "b": 3', "}"], ["{", '  "a": 1', '  "b": 2', "}"])
    assert not matches(["a"], ["a", "b"])


# --- the README, run ------------------------------------------------------------------------


def _environment(store: Path, package_cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SOURCE_DATE_EPOCH", None)
    env.update(
        DISTROLESS_ROOT=str(store),
        DISTROLESS_CACHE=str(package_cache),
        PYTHONUNBUFFERED="1",  # stdout and stderr interleave as on a terminal
        COLUMNS="80",
    )
    return env


def _run(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=900, check=False,
    )  # fmt: skip


# distroless/builder-go is a builder image with a shell on purpose; the README's own `check` of the
# image it ships is one of the commands compared.
@pytest.mark.unsafe_images
def test_the_readme_console_blocks_print_what_they_show(
    tmp_path: Path, package_cache: Path
) -> None:
    require_root()
    require_tool("runc")
    if platform.machine() != "x86_64":
        pytest.skip("the README's samples are those of an amd64 host")
    blocks = runnable_blocks(README.read_text())
    work = tmp_path / "app"
    shutil.copytree(REPO / "examples", work / "examples",
                    ignore=shutil.ignore_patterns("myapp"))  # fmt: skip
    store = tmp_path / "store"
    env = _environment(store, package_cache)
    exe = str(distroless_executable())
    paths = [(str(store), "$STORE"), (str(work), "/tmp/app")]
    readme_ids: set[str] = set()
    our_ids: set[str] = set()
    failures: list[str] = []
    for block in blocks:
        for step in block.steps:
            done = _run([exe, *step.argv[1:]], work, env)
            output = done.stdout.splitlines()
            readme_ids |= detached_ids(step, step.expected)
            our_ids |= detached_ids(step, output)
            want = normalise(step.expected, readme_ids)
            got = normalise(output, our_ids, paths)
            if done.returncode != 0 or not matches(want, got):
                failures.append(
                    f"README.md:{step.line}: $ {step.command}\n(exit {done.returncode})\n"
                    + "\n".join(f"    {line}" for line in output)
                )
    assert not failures, "the README shows other output:\n" + "\n".join(failures)
