"""Dockerfile text -> :class:`~distroless.dockerfile.ast.Dockerfile`.

The parser follows the Dockerfile reference as BuildKit implements it: directives first,
then logical lines (the escape character at a line's end continues it; comment lines and
blank lines inside a continuation are skipped), then here-document bodies for ``RUN``,
``COPY`` and ``ADD``.  Each logical line is one instruction: a case-insensitive keyword,
leading ``--flags`` (checked against what that instruction accepts), and arguments in
exec (JSON array) or shell form.

Nothing is expanded here; see :mod:`.substitution`.  Every error is a
:class:`~distroless.errors.DockerfileError` reading ``FILE:LINE:COLUMN: message``; the
position is that of the offending text even on a continued line.
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from distroless.dockerfile.ast import (
    Add,
    Arg,
    ArgDef,
    Cmd,
    Command,
    Copy,
    Dockerfile,
    Entrypoint,
    Env,
    Expose,
    Flag,
    From,
    Healthcheck,
    Heredoc,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stage,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from distroless.dockerfile.directives import parse_directives
from distroless.dockerfile.mountspec import Mount, parse_mount
from distroless.dockerfile.shell_words import RawWord, UnterminatedQuote, split_raw
from distroless.errors import DockerfileError

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
#: what separates the shell-form words of COPY and ADD (BuildKit's reWhitespace: no newline)
_BLANKS = re.compile(r"[\t\v\f\r ]+")
#: BuildKit reads a Dockerfile with a line scanner of this size and refuses longer lines.
MAX_LINE_BYTES = 65535
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}

# Flag kinds: a value flag needs ``=value``, a bool flag may stand alone, a list flag repeats.
_VALUE, _BOOL, _LIST = "value", "bool", "list"
_FLAGS: dict[str, dict[str, str]] = {
    "from": {"platform": _VALUE},
    "run": {"mount": _LIST, "network": _VALUE, "security": _VALUE},
    "copy": {
        "from": _VALUE,
        "chown": _VALUE,
        "chmod": _VALUE,
        "link": _BOOL,
        "parents": _BOOL,
        "exclude": _LIST,
    },
    "add": {
        "chown": _VALUE,
        "chmod": _VALUE,
        "link": _BOOL,
        "checksum": _VALUE,
        "keep-git-dir": _BOOL,
        "unpack": _BOOL,
        "exclude": _LIST,
    },
    "healthcheck": {
        "interval": _VALUE,
        "timeout": _VALUE,
        "start-period": _VALUE,
        "start-interval": _VALUE,
        "retries": _VALUE,
    },
}
_KEYWORDS = (
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
)
_HEREDOC_KEYWORDS = frozenset({"run", "copy", "add"})


class _Common(TypedDict):
    """Constructor arguments every instruction shares."""

    line: int
    end_line: int
    original: str
    flags: tuple[Flag, ...]


@dataclass
class _Logical:
    """One logical line and a map from its offsets back to physical positions."""

    text: str
    starts: list[int]  # offset in ``text`` where each piece begins
    origins: list[tuple[int, int]]  # (line number, 0-based column) of each piece's start
    end_line: int

    def position(self, offset: int) -> tuple[int, int]:
        index = max(bisect.bisect_right(self.starts, offset) - 1, 0)
        line, column = self.origins[index]
        return line, column + (offset - self.starts[index]) + 1


class _Parser:
    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        if text.startswith("\ufeff"):
            text = text[1:]
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for number, line in enumerate(lines, start=1):
            if len(line.encode("utf-8", "surrogateescape")) > MAX_LINE_BYTES:
                raise DockerfileError(
                    f"{filename}:{number}:1: dockerfile line greater than max allowed size "
                    f"of {MAX_LINE_BYTES}"
                )
        #: lines as written: here-document bodies keep a CRLF file's carriage returns
        self.raw_lines = lines
        self.lines = [line.removesuffix("\r") for line in lines]
        self.directives, self.index = parse_directives(self.lines, filename)
        self.escape = self.directives.escape
        # BuildKit's continuation needs another character before the escape: a line ending
        # in an escaped escape (``trailing\\``) does not continue
        escape = re.escape(self.escape)
        self.continuation = re.compile(f"(?<=[^{escape}]){escape}[ \\t]*$")
        self.logical: _Logical | None = None
        #: the typed ``--mount`` flags of the instruction being read
        self.mounts: list[Mount] = []

    # -- errors -------------------------------------------------------------------------

    def error(self, offset: int, message: str) -> DockerfileError:
        assert self.logical is not None
        line, column = self.logical.position(offset)
        return DockerfileError(f"{self.filename}:{line}:{column}: {message}")

    # -- lines --------------------------------------------------------------------------

    @staticmethod
    def _blank(line: str) -> bool:
        return not line.strip()

    @staticmethod
    def _comment(line: str) -> bool:
        return line.lstrip().startswith("#")

    def _read_logical(self) -> _Logical | None:
        """Join the next instruction's physical lines; None at the end of the file."""
        while self.index < len(self.lines) and (
            self._blank(self.lines[self.index]) or self._comment(self.lines[self.index])
        ):
            self.index += 1
        if self.index >= len(self.lines):
            return None
        pieces: list[str] = []
        starts: list[int] = []
        origins: list[tuple[int, int]] = []
        length = 0
        first = True
        end_line = self.index + 1
        while self.index < len(self.lines):
            raw = self.lines[self.index]
            number = self.index + 1
            self.index += 1
            if not first and (self._comment(raw) or self._blank(raw)):
                continue
            column = 0
            if first:
                column = len(raw) - len(raw.lstrip())
                raw = raw[column:]
                first = False
            match = self.continuation.search(raw)
            body = raw[: match.start()] if match else raw
            starts.append(length)
            origins.append((number, column))
            pieces.append(body)
            length += len(body)
            end_line = number
            if match is None:
                break
        text = "".join(pieces).rstrip()
        return _Logical(text, starts, origins, end_line)

    # -- driver -------------------------------------------------------------------------

    def parse(self) -> Dockerfile:
        global_args: list[Arg] = []
        stages: list[Stage] = []
        current_from: From | None = None
        current: list[Instruction] = []
        names: dict[str, int] = {}
        warnings: list[str] = []
        while True:
            logical = self._read_logical()
            if logical is None:
                break
            self.logical = logical
            instruction = self._instruction(0, len(logical.text))
            if isinstance(instruction, From):
                if current_from is not None:
                    stages.append(Stage(len(stages), current_from, tuple(current)))
                if instruction.name is not None:
                    if instruction.name in names:  # BuildKit warns; the later stage wins
                        warnings.append(
                            f"{self.filename}:{instruction.line}: stage name "
                            f"{instruction.name!r} is also used on line "
                            f"{names[instruction.name]}; this later stage takes the name"
                        )
                    names[instruction.name] = instruction.line
                current_from, current = instruction, []
            elif current_from is None:
                if not isinstance(instruction, Arg):
                    raise self.error(
                        0,
                        f"expected FROM before {instruction.keyword} "
                        "(only ARG may come before the first FROM)",
                    )
                global_args.append(instruction)
            else:
                current.append(instruction)
        if current_from is None:
            line = len(self.lines) or 1
            raise DockerfileError(
                f"{self.filename}:{line}:1: expected at least one FROM instruction"
            )
        stages.append(Stage(len(stages), current_from, tuple(current)))
        return Dockerfile(
            directives=self.directives,
            stages=tuple(stages),
            global_args=tuple(global_args),
            filename=self.filename,
            warnings=tuple(warnings),
        )

    # -- one instruction ---------------------------------------------------------------

    def _instruction(self, start: int, stop: int, *, in_onbuild: bool = False) -> Instruction:
        """Parse ``logical.text[start:stop]`` (the whole line, or an ONBUILD trigger)."""
        assert self.logical is not None
        text = self.logical.text
        i = start
        while i < stop and text[i].isspace():
            i += 1
        j = i
        while j < stop and not text[j].isspace():
            j += 1
        word = text[i:j]
        keyword = word.lower()
        if keyword not in _KEYWORDS:
            hint = difflib.get_close_matches(keyword, _KEYWORDS, n=1)
            suggestion = f" (did you mean {hint[0].upper()}?)" if hint else ""
            raise self.error(i, f"unknown instruction {word!r}{suggestion}")
        flags, args_start = self._flags(keyword, j, stop)
        args = text[args_start:stop].strip()
        while args_start < stop and text[args_start].isspace():
            args_start += 1
        common = _Common(
            line=self.logical.position(i)[0],
            end_line=self.logical.end_line,
            original=text[i:stop].strip(),
            flags=tuple(flags),
        )
        handler = self._handlers()[keyword]
        instruction = handler(args, args_start, common)
        if not in_onbuild and keyword in _HEREDOC_KEYWORDS:
            instruction = self._attach_heredocs(instruction)
        return instruction

    def _handlers(self) -> dict[str, Callable[[str, int, _Common], Instruction]]:
        return {
            "from": self._from,
            "arg": self._arg,
            "env": lambda a, o, c: Env(pairs=self._pairs("ENV", a, o), **c),
            "label": lambda a, o, c: Label(pairs=self._pairs("LABEL", a, o), **c),
            "workdir": lambda a, o, c: Workdir(path=self._one("WORKDIR", a, o), **c),
            "user": lambda a, o, c: User(user=self._one("USER", a, o), **c),
            "stopsignal": lambda a, o, c: Stopsignal(signal=self._one("STOPSIGNAL", a, o), **c),
            "maintainer": lambda a, o, c: Maintainer(name=self._one("MAINTAINER", a, o), **c),
            "expose": lambda a, o, c: Expose(ports=self._words("EXPOSE", a, o), **c),
            "volume": lambda a, o, c: Volume(paths=self._list("VOLUME", a, o), **c),
            "copy": lambda a, o, c: self._file(Copy, a, o, c),
            "add": lambda a, o, c: self._file(Add, a, o, c),
            "run": lambda a, o, c: Run(
                command=self._command("RUN", a, o), mounts=tuple(self.mounts), **c
            ),
            "cmd": lambda a, o, c: Cmd(command=self._command("CMD", a, o, empty=True), **c),
            "entrypoint": lambda a, o, c: Entrypoint(
                command=self._command("ENTRYPOINT", a, o, empty=True), **c
            ),
            "shell": self._shell,
            "healthcheck": self._healthcheck,
            "onbuild": self._onbuild,
        }

    # -- flags --------------------------------------------------------------------------

    def _flags(self, keyword: str, start: int, stop: int) -> tuple[list[Flag], int]:
        """Read leading ``--flags``; return them and the offset where arguments begin."""
        assert self.logical is not None
        text = self.logical.text
        allowed = _FLAGS.get(keyword, {})
        flags: list[Flag] = []
        seen: set[str] = set()
        self.mounts = []
        i = start
        while True:
            while i < stop and text[i].isspace():
                i += 1
            if not text.startswith("--", i) or i >= stop:
                return flags, i
            j = i
            quote = ""
            chars: list[str] = []
            while j < stop and (quote or not text[j].isspace()):
                ch = text[j]
                if ch == "\\":
                    # Docker reads a backslash in a flag as an escape whatever the
                    # escape directive says; a trailing one is dropped.
                    if j + 1 < stop:
                        chars.append(text[j + 1])
                    j += 2
                    continue
                if quote:
                    if ch == quote:
                        quote = ""
                    else:
                        chars.append(ch)
                elif ch in ("'", '"'):
                    quote = ch
                else:
                    chars.append(ch)
                j += 1
            if quote:
                raise self.error(i, f"missing closing {quote} quote in flag")
            word = "".join(chars)
            if word == "--":
                return flags, j
            name, has_value, value = word[2:].partition("=")
            kind = allowed.get(name)
            if kind is None:
                expected = ", ".join(f"--{n}" for n in sorted(allowed)) or "no flags"
                raise self.error(
                    i, f"unknown flag --{name} for {keyword.upper()} (expected {expected})"
                )
            if kind != _LIST and name in seen:
                raise self.error(i, f"duplicate flag --{name}")
            seen.add(name)
            if kind == _BOOL:
                if has_value and value.lower() not in ("true", "false"):
                    raise self.error(i, f"flag --{name} takes true or false, not {value!r}")
                flags.append(Flag(name, value if has_value else None))
            else:
                if not has_value or (not value and kind == _LIST):
                    raise self.error(i, f"flag --{name} needs a value (--{name}=VALUE)")
                if name == "mount":
                    try:
                        self.mounts.append(parse_mount(value))
                    except DockerfileError as exc:
                        raise self.error(i, exc.message) from None
                if name == "network" and value not in ("default", "none", "host"):
                    raise self.error(
                        i, f"unsupported network mode {value!r} (expected default, none or host)"
                    )
                flags.append(Flag(name, value))
            i = j

    # -- argument shapes ----------------------------------------------------------------

    def _split(self, args: str, offset: int) -> list[RawWord]:
        try:
            return split_raw(args, self.escape)
        except UnterminatedQuote as exc:
            raise self.error(offset + exc.offset, exc.message) from None

    def _json(self, args: str, offset: int) -> tuple[str, ...] | None:
        """The exec form, or None for the shell form: text that is no JSON array.

        A JSON array holding anything but strings is an error, as BuildKit refuses it
        rather than reading it as shell words.
        """
        if not args.startswith("["):
            return None
        try:
            value = json.loads(args)
        except (ValueError, RecursionError):
            return None
        if not isinstance(value, list):
            return None
        if not all(isinstance(v, str) for v in value):
            raise self.error(
                offset, "when using JSON array syntax, arrays must be comprised of strings only"
            )
        return tuple(_without_lone_surrogates(v) for v in value)

    def _one(self, name: str, args: str, offset: int) -> str:
        if not args:
            raise self.error(offset, f"{name} requires exactly one argument")
        return args

    def _words(self, name: str, args: str, offset: int) -> tuple[str, ...]:
        words = self._split(args, offset)
        if not words:
            raise self.error(offset, f"{name} requires at least one argument")
        return tuple(w.text for w in words)

    def _list(self, name: str, args: str, offset: int) -> tuple[str, ...]:
        parsed = self._json(args, offset)
        if parsed is None:
            return self._words(name, args, offset)
        if not parsed:
            raise self.error(offset, f"{name} requires at least one argument")
        if any(not p.strip() for p in parsed):
            raise self.error(offset, f"{name} paths can not be empty strings")
        return parsed

    def _command(self, name: str, args: str, offset: int, *, empty: bool = False) -> Command:
        parsed = self._json(args, offset)
        if parsed is not None:
            if not parsed and not empty:
                raise self.error(offset, f"{name} requires a command")
            return parsed
        if not args:
            hint = f" (write {name} [] for none)" if empty else ""
            raise self.error(offset, f"{name} requires a command{hint}")
        return args

    def _pairs(self, name: str, args: str, offset: int) -> tuple[KeyValue, ...]:
        words = self._split(args, offset)
        if not words:
            raise self.error(offset, f"{name} requires at least one key=value pair")
        if "=" not in words[0].text:
            # Legacy form ``ENV key the rest of the line``.
            key = words[0].text
            if len(words) < 2:
                raise self.error(
                    offset + words[0].start, f"{name} {key} needs a value (write {key}=VALUE)"
                )
            return (KeyValue(key, args[words[1].start :].strip()),)
        pairs: list[KeyValue] = []
        for word in words:
            key, sep, value = word.text.partition("=")
            if not sep:
                raise self.error(
                    offset + word.start,
                    f"expected key=value in {name}, found {word.text!r}",
                )
            if not key:
                raise self.error(offset + word.start, f"{name} names can not be blank")
            pairs.append(KeyValue(key, value))
        return tuple(pairs)

    # -- instructions with structure ----------------------------------------------------

    def _from(self, args: str, offset: int, common: _Common) -> Instruction:
        words = self._split(args, offset)
        if len(words) not in (1, 3):
            at = offset + (words[1].start if len(words) > 1 else 0)
            raise self.error(at, "FROM requires an image and optionally 'AS <name>'")
        name: str | None = None
        if len(words) == 3:
            if words[1].text.lower() != "as":
                raise self.error(
                    offset + words[1].start,
                    f"expected 'AS' after the image, found {words[1].text!r}",
                )
            name = words[2].text.lower()
            if not _STAGE_NAME.match(name):
                raise self.error(
                    offset + words[2].start,
                    f"invalid stage name {words[2].text!r}: it must start with a letter and "
                    "contain only letters, digits, '-', '_' and '.'",
                )
        return From(image=words[0].text, name=name, **common)

    def _arg(self, args: str, offset: int, common: _Common) -> Instruction:
        words = self._split(args, offset)
        if not words:
            raise self.error(offset, "ARG requires at least one name")
        defs: list[ArgDef] = []
        for word in words:
            name, sep, value = word.text.partition("=")
            if not name:
                raise self.error(offset + word.start, "ARG names can not be blank")
            defs.append(ArgDef(name, value if sep else None))
        return Arg(args=tuple(defs), **common)

    def _file(
        self, cls: type[Copy] | type[Add], args: str, offset: int, common: _Common
    ) -> Instruction:
        keyword = cls.__name__.upper()
        parsed = self._json(args, offset)
        json_form = parsed is not None
        if parsed is None:
            # BuildKit splits these at blanks only: quotes and escapes are the words' own,
            # removed (or found unmatched) when each word is expanded
            parsed = tuple(w for w in _BLANKS.split(args) if w)
        if len(parsed) < 2:
            raise self.error(offset, f"{keyword} requires at least one source and a destination")
        return cls(sources=parsed[:-1], dest=parsed[-1], json_form=json_form, **common)

    def _shell(self, args: str, offset: int, common: _Common) -> Instruction:
        parsed = self._json(args, offset)
        if parsed is None:
            raise self.error(offset, 'SHELL requires a JSON array, e.g. SHELL ["/bin/sh", "-c"]')
        if not parsed:
            raise self.error(offset, "SHELL requires at least one argument")
        return Shell(shell=parsed, **common)

    def _healthcheck(self, args: str, offset: int, common: _Common) -> Instruction:
        flags = common["flags"]
        kind = args.split(None, 1)[0] if args else ""
        if kind.upper() == "NONE":
            if args[len(kind) :].strip():  # flags are ignored, as BuildKit ignores them
                raise self.error(offset, "HEALTHCHECK NONE takes no arguments")
            return Healthcheck(command=None, **common)
        if kind.upper() != "CMD":
            raise self.error(
                offset, f"expected CMD or NONE after HEALTHCHECK, found {kind or 'nothing'!r}"
            )
        rest = args[len(kind) :].strip()
        if not rest:
            raise self.error(offset, "HEALTHCHECK CMD requires a command")
        values: dict[str, int | None] = {}
        for flag in ("interval", "timeout", "start-period", "start-interval"):
            raw = next((f.value for f in flags if f.name == flag), None)
            values[flag] = None if raw is None else self._duration(flag, raw)
        retries: int | None = None
        raw_retries = next((f.value for f in flags if f.name == "retries"), None)
        if raw_retries is not None:
            if not raw_retries.isdigit():
                raise self.error(
                    self._flag_offset("retries"),
                    f"--retries must be a non-negative integer, not {raw_retries!r}",
                )
            retries = int(raw_retries)
        command = self._command("HEALTHCHECK CMD", rest, offset + args.index(rest))
        return Healthcheck(
            command=command,
            interval=values["interval"],
            timeout=values["timeout"],
            start_period=values["start-period"],
            start_interval=values["start-interval"],
            retries=retries,
            **common,
        )

    def _flag_offset(self, name: str) -> int:
        assert self.logical is not None
        return max(self.logical.text.find(f"--{name}"), 0)

    def _duration(self, flag: str, raw: str) -> int:
        """Go ``time.ParseDuration`` for the non-negative values HEALTHCHECK accepts."""
        if raw == "0":
            return 0
        total = 0.0
        position = 0
        for match in _DURATION_PART.finditer(raw):
            if match.start() != position:
                break
            total += float(match.group(1)) * _UNITS_NS[match.group(2)]
            position = match.end()
        if position != len(raw) or not raw:
            raise self.error(
                self._flag_offset(flag),
                f"--{flag} expects a duration like 30s or 1m30s, not {raw!r}",
            )
        nanoseconds = int(total)
        if 0 < nanoseconds < 1_000_000:
            raise self.error(
                self._flag_offset(flag), f"--{flag} must be 0 or at least 1ms, not {raw!r}"
            )
        return nanoseconds

    def _onbuild(self, args: str, offset: int, common: _Common) -> Instruction:
        if not args:
            raise self.error(offset, "ONBUILD requires an instruction")
        trigger = args.split(None, 1)[0].lower()
        if trigger == "onbuild":
            raise self.error(offset, "ONBUILD ONBUILD is not allowed")
        if trigger in ("from", "maintainer"):
            raise self.error(offset, f"{trigger.upper()} is not allowed as an ONBUILD trigger")
        inner = self._attach_heredocs(
            self._instruction(offset, offset + len(args), in_onbuild=True)
        )
        heredocs = inner.heredocs if isinstance(inner, Run | Copy | Add) else ()
        common["end_line"] = inner.end_line
        return Onbuild(expression=args, heredocs=heredocs, **common)

    # -- here-documents -----------------------------------------------------------------

    def _attach_heredocs(self, instruction: Instruction) -> Instruction:
        """Find ``<<NAME`` words on the line and read their bodies from the next lines."""
        assert self.logical is not None
        if isinstance(instruction, Run):
            if instruction.exec_form:
                return instruction
            assert isinstance(instruction.command, str)
            words = [w.text for w in split_raw(instruction.command, "\\", strict=False)]
        elif isinstance(instruction, Copy | Add):
            if instruction.json_form:
                return instruction
            words = [*instruction.sources, instruction.dest]
        else:
            return instruction
        markers = _heredoc_markers(words)
        if not markers:
            return instruction
        heredocs: list[Heredoc] = []
        consumed: set[int] = set()
        for marker in markers:
            consumed.update(marker.words)
            heredocs.append(self._read_heredoc(marker))
        common = _Common(
            line=instruction.line,
            end_line=self.index,
            original=instruction.original,
            flags=instruction.flags,
        )
        if isinstance(instruction, Run):
            return Run(
                command=instruction.command,
                heredocs=tuple(heredocs),
                mounts=instruction.mounts,
                **common,
            )
        if len(words) - 1 in consumed:
            raise self.error(
                max(self.logical.text.rfind(words[-1]), 0),
                f"{instruction.keyword} destination can not be a here-document",
            )
        return type(instruction)(
            sources=tuple(w for i, w in enumerate(words[:-1]) if i not in consumed),
            dest=instruction.dest,
            heredocs=tuple(heredocs),
            **common,
        )

    def _read_heredoc(self, marker: _Marker) -> Heredoc:
        assert self.logical is not None
        body: list[str] = []
        while True:
            if self.index >= len(self.lines):
                raise self.error(
                    max(self.logical.text.find(marker.text), 0),
                    f"unterminated here-document {marker.text}: "
                    f"expected a line {marker.name!r} before the end of the file",
                )
            line, raw = self.lines[self.index], self.raw_lines[self.index]
            self.index += 1
            if (line.lstrip("\t") if marker.chomp else line) == marker.name:
                break
            body.append((raw.lstrip("\t") if marker.chomp else raw) + "\n")
        return Heredoc(marker.name, "".join(body), marker.expand, marker.chomp, marker.fd)


@dataclass(frozen=True)
class _Marker:
    """A ``<<NAME`` found on an instruction line; ``words`` are the indices it spans."""

    name: str
    expand: bool
    chomp: bool
    fd: int | None
    text: str
    words: tuple[int, ...]


def _without_lone_surrogates(text: str) -> str:
    """``text`` with each unpaired surrogate (``"\\ud800"`` in JSON) as U+FFFD, as Go's JSON
    decoder gives it: such a string cannot be written as UTF-8 into the image config."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _heredoc_markers(words: list[str]) -> list[_Marker]:
    """Here-document markers among raw words, as docker finds them.

    ``<< EOF`` (blanks after ``<<``) counts too.  The body is expanded unless some quote
    in the name acts as a quote (an escaped quote does not), as in a POSIX shell.
    """
    markers: list[_Marker] = []
    i = 0
    while i < len(words):
        match = _HEREDOC.match(words[i])
        spanned: tuple[int, ...] = (i,)
        # "<< EOF" names a document, "<<- EOF" does not (BuildKit reads word by word)
        if match is not None and not match.group(3) and not match.group(2) and i + 1 < len(words):
            match = _HEREDOC.match(words[i] + words[i + 1])
            spanned = (i, i + 1)
        i = spanned[-1] + 1
        if match is None or not match.group(3):
            continue
        rest = match.group(3)
        try:
            if len(split_raw(rest)) != 1:
                continue
        except UnterminatedQuote:
            continue
        name, quoted = _unquote(rest)
        markers.append(
            _Marker(
                name=name,
                expand=not quoted,
                chomp=match.group(2) == "-",
                fd=int(match.group(1)) if match.group(1) else None,
                text=" ".join(words[j] for j in spanned),
                words=spanned,
            )
        )
    return markers


def _unquote(text: str) -> tuple[str, bool]:
    """Remove quotes and backslash escapes (no expansion); also say if a quote was used."""
    out: list[str] = []
    quote = ""
    used = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote != "'" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if quote and ch == quote:
            quote = ""
        elif not quote and ch in ("'", '"'):
            quote = ch
            used = True
        else:
            out.append(ch)
        i += 1
    return "".join(out), used


def parse(text: str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile ``text``; ``filename`` is used as given in error messages."""
    return _Parser(text, filename).parse()


def parse_file(path: str | Path) -> Dockerfile:
    """Read and parse a Dockerfile; a missing or unreadable file is a DockerfileError."""
    try:
        # bytes, not read_text: universal newlines would drop a CRLF file's carriage
        # returns, which here-document bodies keep
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DockerfileError(f"cannot read Dockerfile {str(path)!r}: {exc}") from None
    return parse(text, str(path))
