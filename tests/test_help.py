"""Every command's ``--help`` ends with two or three examples that the command accepts.

The group loads its commands lazily (cli/lazy_commands.py), so the walk asks the group
for each name it lists: that imports every command module, and a command left out of
the table, or one without examples, fails here rather than in front of a user.
"""

from __future__ import annotations

import re
import shlex

import click
import pytest

from distroless.cli.app import cli as root_group
from distroless.cli.lazy_commands import LAZY
from tests.helpers import run_cli

CommandPath = tuple[str, ...]


def _walk(
    command: click.Command, path: CommandPath, parent: click.Context | None
) -> list[CommandPath]:
    ctx = click.Context(command, parent=parent, info_name=path[-1] if path else "distroless")
    found = [path]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{' '.join((*path, name))} does not load"
            found += _walk(sub, (*path, name), ctx)
    return found


COMMANDS = _walk(root_group, (), None)


def _command(path: CommandPath) -> click.Command:
    command: click.Command = root_group
    for name in path:
        assert isinstance(command, click.Group)
        sub = command.get_command(click.Context(command), name)
        assert sub is not None
        command = sub
    return command


def _examples(path: CommandPath) -> list[str]:
    """The example lines that end the help of ``path``; fails if they do not end it."""
    result = run_cli(*path, "--help", root=None)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    if not path:  # the group's own help goes on with the exit codes, after its examples
        text = text[: text.index("Exit codes:")]
    assert "Examples:" in text, f"{' '.join(path) or 'distroless'}: no examples"
    start = text.rindex("Examples:")
    sections = ("Options:", "Commands:")
    assert all(text.find(s) < start for s in sections), "examples come before the options"
    return [line.strip() for line in text[start:].splitlines()[1:] if line.strip()]


def _invocations(example: str) -> list[list[str]]:
    """The ``distroless`` commands of one example line (in ``$(...)`` and pipelines too)."""
    inner = re.findall(r"\$\(([^)]*)\)", example)
    words = shlex.split(re.sub(r"\$\([^)]*\)", "ID", example), comments=True)
    segments: list[list[str]] = [[]]
    for word in words:
        if word in ("|", "&&", ";"):
            segments.append([])
        else:
            segments[-1].append(word)
    segments += [shlex.split(text) for text in inner]
    return [s[1:] for s in segments if s[:1] == ["distroless"]]


def _parse(argv: list[str]) -> CommandPath:
    """Parse ``argv`` as the group would, without running it: the command path it names."""
    command: click.Command = root_group
    path: CommandPath = ()
    while isinstance(command, click.Group) and argv and not argv[0].startswith("-"):
        sub = command.get_command(click.Context(command), argv[0])
        assert sub is not None, f"no command {argv[0]!r}"
        command, path, argv = sub, (*path, argv[0]), argv[1:]
    command.make_context(" ".join(("distroless", *path)), list(argv))  # raises on bad usage
    return path


def test_the_walk_loads_every_lazy_command() -> None:
    top = {path[0] for path in COMMANDS if len(path) == 1}
    assert set(LAZY) <= top
    nested = {path for path in COMMANDS if len(path) == 2}
    assert {("bases", "build"), ("key", "generate"), ("system", "df")} <= nested


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "distroless")
def test_help_ends_with_examples_the_command_accepts(path: CommandPath) -> None:
    examples = _examples(path)
    assert 2 <= len(examples) <= 3, examples
    named: set[CommandPath] = set()
    for example in examples:
        invocations = _invocations(example)
        assert invocations, f"{example!r} runs no distroless command"
        for argv in invocations:
            try:
                named.add(_parse(argv))
            except click.ClickException as exc:
                pytest.fail(f"{example!r}: {exc.format_message()}")
    if path:  # a command's examples run it; a group's run one of its commands
        assert any(p[: len(path)] == path for p in named), (path, examples)


def test_the_check_sees_examples_before_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    command = _command(("fsck",))
    monkeypatch.setattr(command, "epilog", None)
    monkeypatch.setattr(
        command, "help", "Verify.\n\n\b\nExamples:\n  distroless fsck\n  distroless fsck --json"
    )
    with pytest.raises(AssertionError, match="before the options"):
        _examples(("fsck",))


def test_an_example_the_command_refuses_is_caught() -> None:
    assert _parse(["fsck", "--json"]) == ("fsck",)
    assert _invocations("docker save app:1 | distroless load") == [["load"]]
    assert _invocations("distroless rm $(distroless ps -aq)") == [["rm", "ID"], ["ps", "-aq"]]
    with pytest.raises(click.NoSuchOption):
        _parse(["fsck", "--jsn"])
    with pytest.raises(click.MissingParameter):
        _parse(["tag", "only-one"])
