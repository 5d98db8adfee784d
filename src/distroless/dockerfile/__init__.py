"""Dockerfile support: parser, AST, variable substitution, stage graph, .dockerignore.

The parser and everything re-exported here are pure: they read text and return values.
Running the instructions is the executor's job.
"""

from __future__ import annotations

from distroless.dockerfile.ast import (
    Add,
    Arg,
    ArgDef,
    Cmd,
    Command,
    Copy,
    Directives,
    Dockerfile,
    Entrypoint,
    Env,
    Expose,
    FileInstruction,
    Flag,
    From,
    Healthcheck,
    Heredoc,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Mount,
    Onbuild,
    Run,
    Shell,
    Stage,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from distroless.dockerfile.parser import parse, parse_file
from distroless.dockerfile.substitution import expand, expand_words

__all__ = [
    "Add",
    "Arg",
    "ArgDef",
    "Cmd",
    "Command",
    "Copy",
    "Directives",
    "Dockerfile",
    "Entrypoint",
    "Env",
    "Expose",
    "FileInstruction",
    "Flag",
    "From",
    "Healthcheck",
    "Heredoc",
    "Instruction",
    "KeyValue",
    "Label",
    "Maintainer",
    "Mount",
    "Onbuild",
    "Run",
    "Shell",
    "Stage",
    "Stopsignal",
    "User",
    "Volume",
    "Workdir",
    "expand",
    "expand_words",
    "parse",
    "parse_file",
]
