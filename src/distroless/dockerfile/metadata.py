"""The instructions that change only the image config: ``ENV`` … ``ONBUILD``, and ``ARG``.

:func:`apply_metadata` is a pure step: it edits a :class:`StateDraft` (the stage's config,
build-arg scope and history in progress) and returns the text the step is shown and
recorded as.  It reads nothing but its arguments: ``USER`` records a name the stage's
``/etc/passwd`` may lack, as docker does; a ``RUN`` as that user is what fails.  History
entries follow BuildKit's wording (``ENV K=V``, ``CMD ["x"]``) and are marked
``empty_layer``; ``ARG`` changes only the scope and records nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace

from distroless.dockerfile.ast import (
    Arg,
    Cmd,
    Command,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Shell,
    Stopsignal,
    User,
    Volume,
)
from distroless.dockerfile.stage import DEFAULT_SHELL, StateDraft
from distroless.dockerfile.workspace import SourceFile
from distroless.errors import BuildError, DockerfileError
from distroless.oci.models import ContainerConfig, HistoryEntry

#: characters the environment and labels of one stage may hold (an execve takes at most a
#: few MiB of environment in all; labels beyond this are not metadata but data)
MAX_CONFIG_TEXT = 4 << 20

#: a file of the stage (``/etc/passwd``), None when it has none


@dataclass(frozen=True)
class MetadataScope:
    """What metadata steps read besides the stage: the build's arguments and its clock."""

    source: SourceFile
    #: the history entries' ``created``
    created: str
    build_args: Mapping[str, str]
    #: global ARG values and the predefined platform ARGs, as the FROM lines saw them
    global_env: Mapping[str, str]
    #: the names a bare ``ARG NAME`` in a stage takes from ``global_env``
    inherited: frozenset[str]


@dataclass(frozen=True)
class MetadataStep:
    """How the step is shown, and whether ``CMD`` has now been set in this stage."""

    text: str
    cmd_set: bool


def apply_metadata(
    draft: StateDraft,
    ins: Instruction,
    scope: MetadataScope,
    *,
    cmd_set: bool = False,
) -> MetadataStep:
    """Apply ``ins`` to ``draft``; ``cmd_set`` says whether CMD came earlier in the stage
    (an ``ENTRYPOINT`` then keeps it, otherwise it clears the base's, as docker does)."""
    source = scope.source
    if isinstance(ins, Arg):
        _arg(draft, ins, scope)
        return MetadataStep(ins.original, cmd_set)
    env = draft.expansion_env()
    config = draft.config
    text = ins.original
    if isinstance(ins, Env):
        values = {
            source.expand(p.key, env, ins): source.expand(p.value, env, ins) for p in ins.pairs
        }
        for key, value in values.items():
            draft.set_env(key, value)
        text = "ENV " + " ".join(f"{k}={v}" for k, v in values.items())
    elif isinstance(ins, Label):
        labels = {
            source.expand(p.key, env, ins): source.expand(p.value, env, ins) for p in ins.pairs
        }
        for key, value in labels.items():
            draft.set_label(key, value)
        text = "LABEL " + " ".join(f"{k}={v}" for k, v in labels.items())
    elif isinstance(ins, Maintainer):
        draft.author = ins.name  # the image's author only: BuildKit adds no label
        text = f"MAINTAINER {ins.name}"
    elif isinstance(ins, User):
        user = source.expand(ins.user, env, ins)
        if not user.partition(":")[0]:
            raise BuildError(f"{source.where(ins)}: USER needs a user name or uid")
        config = replace(config, user=user)
        text = f"USER {user}"
    elif isinstance(ins, Cmd):
        config = replace(config, cmd=_argv(config, ins.command))
        cmd_set = True
        text = f"CMD {command_text(config.cmd or ())}"
    elif isinstance(ins, Entrypoint):
        entry = _argv(config, ins.command)
        config = replace(config, entrypoint=entry, cmd=config.cmd if cmd_set else None)
        text = f"ENTRYPOINT {command_text(entry or ())}"
    elif isinstance(ins, Shell):
        config = replace(config, shell=ins.shell)
        text = f"SHELL {command_text(ins.shell)}"
    elif isinstance(ins, Expose):
        ports = []
        for raw in ins.ports:
            for port in source.expand_words(raw, env, ins):
                ports.extend(_ports(port, source.where(ins)))
        draft.add_ports(ports)
        text = "EXPOSE " + " ".join(ports)
    elif isinstance(ins, Volume):
        paths = [source.expand(p, env, ins) for p in ins.paths]
        if any(not p for p in paths):
            raise BuildError(f"{source.where(ins)}: VOLUME specified with an empty path")
        draft.add_volumes(paths)
        text = "VOLUME " + command_text(tuple(paths))
    elif isinstance(ins, Stopsignal):
        config = replace(config, stop_signal=source.expand(ins.signal, env, ins))
        text = f"STOPSIGNAL {config.stop_signal}"
    elif isinstance(ins, Healthcheck):
        config = replace(config, healthcheck=_healthcheck(ins))
    elif isinstance(ins, Onbuild):
        config = replace(config, on_build=(*config.on_build, ins.expression))
        text = f"ONBUILD {ins.expression}"
    else:
        raise BuildError(f"{source.where(ins)}: {ins.keyword} cannot be executed")
    if draft.text_size > max(MAX_CONFIG_TEXT, draft.start_size):
        raise DockerfileError(
            f"{source.where(ins)}: {ins.keyword}: the stage's environment and labels would "
            f"exceed {MAX_CONFIG_TEXT} characters"
        )
    draft.config = config
    draft.history.append(HistoryEntry(created_by=text, created=scope.created, empty_layer=True))
    return MetadataStep(text, cmd_set)


def command_text(command: Command) -> str:
    """A command as history shows it: an exec-form vector as its JSON array."""
    if isinstance(command, tuple):
        return json.dumps(list(command))
    return command


def _argv(config: ContainerConfig, command: Command) -> tuple[str, ...] | None:
    """The vector the config holds; ``[]`` is written as null, as docker writes it."""
    if isinstance(command, tuple):
        return command or None
    return (*(config.shell or DEFAULT_SHELL), command)


def _ports(spec: str, where: str) -> list[str]:
    """``8080/TCP`` as ``8080/tcp``, ``7000-7002`` as its three ports, as docker records them."""
    number, _, protocol = spec.partition("/")
    low, dash, high = number.partition("-")
    if not low.isdigit() or (dash and not high.isdigit()):
        raise BuildError(f"{where}: EXPOSE {spec}: invalid port or port range")
    first, last = int(low), int(high) if dash else int(low)
    if not 0 <= first <= last <= 65535:
        raise BuildError(f"{where}: EXPOSE {spec}: invalid port or port range")
    proto = (protocol or "tcp").lower()
    return [f"{port}/{proto}" for port in range(first, last + 1)]


def _healthcheck(ins: Healthcheck) -> dict[str, object]:
    if ins.command is None:
        return {"Test": ["NONE"]}
    test = ["CMD", *ins.command] if isinstance(ins.command, tuple) else ["CMD-SHELL", ins.command]
    out: dict[str, object] = {"Test": test}
    for key, value in (
        ("Interval", ins.interval),
        ("Timeout", ins.timeout),
        ("StartPeriod", ins.start_period),
        ("StartInterval", ins.start_interval),
        ("Retries", ins.retries),
    ):
        if value is not None:
            out[key] = value
    return out


def _arg(draft: StateDraft, ins: Arg, scope: MetadataScope) -> None:
    """A ``--build-arg`` wins, then the default, then (bare) the global or predefined value."""
    for arg in ins.args:
        value: str | None
        if arg.name in scope.build_args:
            value = scope.build_args[arg.name]
        elif arg.default is not None:
            value = scope.source.expand(arg.default, draft.expansion_env(), ins)
        elif arg.name in scope.global_env and arg.name in scope.inherited:
            value = scope.global_env[arg.name]
        else:
            value = None
        if value is not None:
            draft.set_arg(arg.name, value)
