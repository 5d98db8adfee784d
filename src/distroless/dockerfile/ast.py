"""The parsed form of a Dockerfile: frozen values, no behaviour beyond small accessors.

Values are kept *as written*: quotes and ``$var`` references stay in ``ENV`` values, ``COPY``
paths, ``WORKDIR`` and so on, because docker expands them only when the stage's environment
is known.  The executor passes them through :func:`distroless.dockerfile.substitution.expand`.
Exec-form commands (JSON arrays) are tuples and are never expanded, as in docker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from distroless.dockerfile.mountspec import Mount

Command = str | tuple[str, ...]
"""A shell-form command (one string for ``/bin/sh -c``) or an exec-form argument vector."""


@dataclass(frozen=True)
class Directives:
    """Parser directives from the top of the file (``# syntax=``, ``# escape=``, ``# check=``)."""

    escape: str = "\\"
    syntax: str | None = None
    check: str | None = None


@dataclass(frozen=True)
class Flag:
    """One ``--name[=value]`` flag of an instruction; ``value`` is None for a bare flag."""

    name: str
    value: str | None


@dataclass(frozen=True)
class Heredoc:
    """A here-document: ``<<EOF`` (expanding), ``<<'EOF'`` (literal), ``<<-EOF`` (tabs stripped).

    ``content`` already has leading tabs removed when ``chomp`` is set; it ends with a
    newline for every line of the body.
    """

    name: str
    content: str
    expand: bool = True
    chomp: bool = False
    fd: int | None = None


@dataclass(frozen=True, kw_only=True)
class Instruction:
    """Fields common to every instruction.

    ``line`` is the first physical line (1-based), ``end_line`` the last one including any
    here-document bodies; ``original`` is the instruction as written on its logical line
    (continuations joined), which is what image history records.
    """

    line: int
    end_line: int
    original: str
    flags: tuple[Flag, ...] = ()

    keyword: str = field(default="", init=False, repr=False)

    def flag(self, name: str) -> str | None:
        """The value of the last ``--name`` flag, ``"true"`` for a bare one, None if absent."""
        found: str | None = None
        for f in self.flags:
            if f.name == name:
                found = "true" if f.value is None else f.value
        return found

    def flag_values(self, name: str) -> tuple[str, ...]:
        """Every value of a repeatable flag (``--mount``, ``--exclude``), in order."""
        return tuple("true" if f.value is None else f.value for f in self.flags if f.name == name)

    def bool_flag(self, name: str) -> bool:
        value = self.flag(name)
        return value is not None and value.lower() != "false"


def _kw(name: str) -> Any:
    return field(default=name, init=False, repr=False)


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    keyword: str = _kw("FROM")
    image: str
    name: str | None = None

    @property
    def platform(self) -> str | None:
        return self.flag("platform")


@dataclass(frozen=True)
class ArgDef:
    name: str
    default: str | None = None


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    keyword: str = _kw("ARG")
    args: tuple[ArgDef, ...]


@dataclass(frozen=True)
class KeyValue:
    """A ``key=value`` pair as written; both parts are expanded by the executor."""

    key: str
    value: str


@dataclass(frozen=True, kw_only=True)
class Env(Instruction):
    keyword: str = _kw("ENV")
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, kw_only=True)
class Label(Instruction):
    keyword: str = _kw("LABEL")
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    keyword: str = _kw("WORKDIR")
    path: str


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    keyword: str = _kw("USER")
    user: str


@dataclass(frozen=True, kw_only=True)
class FileInstruction(Instruction):
    """What ``COPY`` and ``ADD`` share: sources (as written), a destination, heredoc files."""

    sources: tuple[str, ...]
    dest: str
    heredocs: tuple[Heredoc, ...] = ()
    json_form: bool = False

    @property
    def from_(self) -> str | None:
        return self.flag("from")

    @property
    def chown(self) -> str | None:
        return self.flag("chown")

    @property
    def chmod(self) -> str | None:
        return self.flag("chmod")

    @property
    def link(self) -> bool:
        return self.bool_flag("link")

    @property
    def parents(self) -> bool:
        return self.bool_flag("parents")

    @property
    def excludes(self) -> tuple[str, ...]:
        return self.flag_values("exclude")


@dataclass(frozen=True, kw_only=True)
class Copy(FileInstruction):
    keyword: str = _kw("COPY")


@dataclass(frozen=True, kw_only=True)
class Add(FileInstruction):
    keyword: str = _kw("ADD")

    @property
    def checksum(self) -> str | None:
        return self.flag("checksum")

    @property
    def keep_git_dir(self) -> bool:
        return self.bool_flag("keep-git-dir")

    @property
    def unpack(self) -> bool | None:
        """``--unpack``: None means docker's default (unpack local archives only)."""
        value = self.flag("unpack")
        return None if value is None else value.lower() != "false"


@dataclass(frozen=True, kw_only=True)
class Run(Instruction):
    keyword: str = _kw("RUN")
    command: Command
    heredocs: tuple[Heredoc, ...] = ()
    #: the ``--mount`` flags, typed and checked by the parser (the flags keep the text)
    mounts: tuple[Mount, ...] = ()

    @property
    def exec_form(self) -> bool:
        return isinstance(self.command, tuple)

    @property
    def network(self) -> str | None:
        return self.flag("network")


@dataclass(frozen=True, kw_only=True)
class Cmd(Instruction):
    keyword: str = _kw("CMD")
    command: Command


@dataclass(frozen=True, kw_only=True)
class Entrypoint(Instruction):
    keyword: str = _kw("ENTRYPOINT")
    command: Command


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    keyword: str = _kw("SHELL")
    shell: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    keyword: str = _kw("EXPOSE")
    ports: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    keyword: str = _kw("VOLUME")
    paths: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Stopsignal(Instruction):
    keyword: str = _kw("STOPSIGNAL")
    signal: str


@dataclass(frozen=True, kw_only=True)
class Healthcheck(Instruction):
    """``HEALTHCHECK NONE`` (``command`` is None) or ``HEALTHCHECK [flags] CMD ...``.

    Durations are in nanoseconds (what the image config stores); None means "not given".
    """

    keyword: str = _kw("HEALTHCHECK")
    command: Command | None
    interval: int | None = None
    timeout: int | None = None
    start_period: int | None = None
    start_interval: int | None = None
    retries: int | None = None


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    """A trigger stored in the image config and run by images built ``FROM`` this one.

    ``expression`` is the trigger as written; a ``RUN``/``COPY``/``ADD`` trigger may carry
    here-documents, read from the lines after it like any other.
    """

    keyword: str = _kw("ONBUILD")
    expression: str
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    keyword: str = _kw("MAINTAINER")
    name: str


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` and the instructions that follow it up to the next ``FROM``.

    ``name`` is lower-cased as docker does (stage names are case-insensitive).
    """

    index: int
    from_: From
    instructions: tuple[Instruction, ...]

    @property
    def name(self) -> str | None:
        return self.from_.name

    @property
    def base(self) -> str:
        return self.from_.image

    @property
    def platform(self) -> str | None:
        return self.from_.platform

    @property
    def line(self) -> int:
        return self.from_.line


@dataclass(frozen=True)
class Dockerfile:
    """A whole parsed Dockerfile; ``global_args`` are the ``ARG`` lines before the first FROM."""

    directives: Directives
    stages: tuple[Stage, ...]
    global_args: tuple[Arg, ...] = ()
    filename: str = "Dockerfile"
    #: what the parser accepted but a user should hear of (a repeated stage name)
    warnings: tuple[str, ...] = ()

    def stage(self, name_or_index: str) -> Stage | None:
        """Find a stage by (case-insensitive) name or by decimal index; of stages sharing
        a name, the last one has it, as in BuildKit."""
        wanted = name_or_index.lower()
        for stage in reversed(self.stages):
            if stage.name == wanted:
                return stage
        if name_or_index.isdigit() and int(name_or_index) < len(self.stages):
            return self.stages[int(name_or_index)]
        return None

    def instructions(self) -> Iterator[Instruction]:
        """Every instruction in file order, global ARGs and FROMs included."""
        yield from self.global_args
        for stage in self.stages:
            yield stage.from_
            yield from stage.instructions

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (used by ``--json`` output and the parser's test corpus)."""
        return {
            "directives": dataclasses.asdict(self.directives),
            "global_args": [instruction_to_dict(a) for a in self.global_args],
            "stages": [
                {
                    "index": s.index,
                    "name": s.name,
                    "base": s.base,
                    "platform": s.platform,
                    "instructions": [instruction_to_dict(i) for i in s.instructions],
                }
                for s in self.stages
            ],
        }


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def instruction_to_dict(instruction: Instruction) -> dict[str, Any]:
    """Summary of one instruction: its keyword, line and kind-specific fields."""
    out: dict[str, Any] = {"kind": instruction.keyword, "line": instruction.line}
    for f in dataclasses.fields(instruction):
        if f.name in ("keyword", "line", "end_line", "original", "mounts"):
            continue
        value = getattr(instruction, f.name)
        if f.name == "flags":
            if value:
                out["flags"] = [[fl.name, fl.value] for fl in value]
            continue
        if f.name == "command":
            out["command"] = _plain(value)
            continue
        if value is None or value == () or (f.name == "json_form" and not value):
            continue
        out[f.name] = _plain(value)
    return out
