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
    Onbuild,
    Run,
    Shell,
    Stage,
    Stopsignal,
    User,
    Volume,
    Workdir,
)
from distroless.dockerfile.graph import StageGraph, StageRef, build_graph, global_arg_env
from distroless.dockerfile.ignore import DockerIgnore
from distroless.dockerfile.mountspec import (
    BindMount,
    CacheMount,
    Mount,
    SecretMount,
    SshMount,
    TmpfsMount,
    parse_mount,
)
from distroless.dockerfile.parser import parse, parse_file
from distroless.dockerfile.substitution import EXPANDED_INSTRUCTIONS, expand, expand_words

__all__ = [
    "EXPANDED_INSTRUCTIONS",
    "Add",
    "Arg",
    "ArgDef",
    "BindMount",
    "CacheMount",
    "Cmd",
    "Command",
    "Copy",
    "Directives",
    "DockerIgnore",
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
    "SecretMount",
    "Shell",
    "SshMount",
    "Stage",
    "StageGraph",
    "StageRef",
    "Stopsignal",
    "TmpfsMount",
    "User",
    "Volume",
    "Workdir",
    "build_graph",
    "expand",
    "expand_words",
    "global_arg_env",
    "parse",
    "parse_file",
    "parse_mount",
]
