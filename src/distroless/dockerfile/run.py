"""``RUN``: the command, the environment it sees, its cache key, and running it.

The key of a RUN step is its history text (the command, after the shell, and the build
args it sees, which BuildKit shows as ``RUN |N K=V ...``) with the parent state's digest
(config: ENV, USER, WORKDIR, SHELL; the platform; the layers) and these inputs: the
network, each mount (cache and tmpfs targets; bind targets with the content of their
source; secret ids, targets and file modes, or that an optional secret was absent; ssh
agent ids and targets, all absent) and the here-documents.  Secret values never enter it.

Running is the :class:`~distroless.dockerfile.step_runner.StepRunner`'s job; this module
decides what it runs and turns a failure into one line naming the step.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

from distroless.dockerfile.ast import Heredoc, Run
from distroless.dockerfile.metadata import command_text
from distroless.dockerfile.run_mounts import FromStage, StepMounts, provide_secrets, step_mounts
from distroless.dockerfile.secrets import BuildSecret
from distroless.dockerfile.stage import StageState
from distroless.dockerfile.step_runner import Output, StepOutputs, StepRunner
from distroless.dockerfile.workspace import LayerStep, SourceFile, Workspace
from distroless.errors import BuildError, SandboxError
from distroless.layers.compress import Compression
from distroless.layers.layer import Layer
from distroless.oci.digest import Writable
from distroless.oci.models import Platform
from distroless.runtime.capture import StepConfig
from distroless.runtime.emulation import check_runnable
from distroless.runtime.options import Mount, check_network
from distroless.runtime.rootfs import StreamedUnpack


@dataclass(frozen=True)
class RunSettings:
    """What the build lets RUN steps have, and how they are run."""

    #: ``--secret`` values by id
    secrets: Mapping[str, BuildSecret]
    #: BuildKit's entitlements (``--allow network.host``)
    allow: frozenset[str]
    #: where the steps' stdout and stderr go; None collects them for the error message
    output: Output
    #: the runtime's name (runc, crun), for the step config
    runtime: str
    #: the host's platform: a step of another architecture runs under QEMU when registered
    build_platform: Platform
    #: the sandbox, found when the first step runs
    runner: Callable[[], StepRunner]
    #: what ``--mount=...,from=`` names: a stage built before, or an image
    from_stage: FromStage | None = None
    #: ``--ssh``: the agent sockets ``RUN --mount=type=ssh`` forwards, by id
    ssh: Mapping[str, Path] = field(default_factory=dict)


def run_step(
    ins: Run,
    state: StageState,
    *,
    source: SourceFile,
    space: Workspace,
    settings: RunSettings,
    compression: Compression,
) -> LayerStep:
    """What ``ins`` runs, checked and keyed; it runs only on a cache miss."""
    where = source.where(ins)
    mounts = step_mounts(
        ins,
        state,
        source=source,
        space=space,
        secrets=settings.secrets,
        from_stage=settings.from_stage,
        ssh=settings.ssh,
    )
    network = ins.network or "default"
    if network not in ("default", "host", "none"):
        raise BuildError(
            f"{where}: RUN --network={network} is not supported (use default, host or none)"
        )
    if network == "host" and "network.host" not in settings.allow:
        raise BuildError(
            f"{where}: RUN --network=host shares the host's network with the step; "
            "allow it with `distroless build --allow network.host`"
        )
    security = ins.flag("security")
    if security not in (None, "sandbox"):
        raise BuildError(
            f"{where}: RUN --security={security} is not supported: RUN steps always run confined"
        )
    program = program_heredoc(ins)
    if program is not None and (
        "/" in program.name or program.name in (".", "..") or not program.name
    ):
        raise BuildError(
            f"{where}: the here-document {program.name!r} starts with #! and is run as the "
            f"file {PIPES_DIR}/NAME, but its name is no file name"
        )
    args = run_args(state, ins)
    env = build_arg_env(state)
    text = history_text(ins, args, env)
    inputs = [f"network={network}", *mounts.inputs]
    inputs += [f"heredoc:{h.name}:{h.content}" for h in ins.heredocs]

    def make() -> Layer:
        return _execute(
            ins, state, args, env, network, mounts,
            where=where, space=space, settings=settings, compression=compression,
        )  # fmt: skip

    return LayerStep(text, inputs, make)


#: Where a here-document run as a program is mounted (BuildKit's path).
PIPES_DIR = "/dev/pipes"


def _lone_heredoc(ins: Run) -> bool:
    """Whether the shell-form command is nothing but here-document markers."""
    if isinstance(ins.command, tuple) or not ins.heredocs:
        return False
    words = re.sub(r"<<[ \t]+", "<<", ins.command).split()  # "<< EOF" is "<<EOF"
    return bool(words) and all(w.startswith("<<") or (w[:1].isdigit() and "<<" in w) for w in words)


def program_heredoc(ins: Run) -> Heredoc | None:
    """The here-document BuildKit runs as a program: a lone ``<<EOF`` whose body starts
    with ``#!``.  It is written to :data:`PIPES_DIR` (mode 0755) and the shell runs that
    file, so the kernel starts the interpreter the first line names."""
    if not _lone_heredoc(ins) or len(ins.heredocs) != 1:
        return None
    heredoc = ins.heredocs[0]
    return heredoc if heredoc.content.startswith("#!") else None


def run_args(state: StageState, ins: Run) -> tuple[str, ...]:
    """The argument vector: exec form as given; shell form through the stage's SHELL.

    A lone ``<<EOF`` makes the here-document the script (or, starting with ``#!``, the
    program the shell runs); otherwise the bodies follow the command, for the shell to
    read as here-documents.
    """
    if isinstance(ins.command, tuple):
        return ins.command
    command = ins.command
    if ins.heredocs:
        program = program_heredoc(ins)
        if program is not None:
            return (*state.shell, posixpath.join(PIPES_DIR, program.name))
        if _lone_heredoc(ins):
            return (*state.shell, ins.heredocs[0].content)
        body = "".join(f"{h.content}{h.name}\n" for h in ins.heredocs)
        command = f"{command}\n{body}"
    return (*state.shell, command)


def build_arg_env(state: StageState) -> dict[str, str]:
    """The build args in scope, as the step's variables; an ENV of the same name wins
    unless the ARG was given its value after it (BuildKit's later-wins step environment)."""
    env_names = set(state.env) - state.args_over_env
    return {k: v for k, v in state.args if k not in env_names}


def history_text(ins: Run, args: tuple[str, ...], env: Mapping[str, str]) -> str:
    """``RUN /bin/sh -c CMD``, prefixed ``|N K=V ...`` with the build args it sees."""
    shown = " ".join(args) if not ins.exec_form else command_text(args)
    if not env:
        return f"RUN {shown}"
    pairs = " ".join(f"{k}={v}" for k, v in sorted(env.items()))
    return f"RUN |{len(env)} {pairs} {shown}"


def _program_mount(program: Heredoc, space: Workspace) -> Mount:
    """A read-only directory holding the here-document as an executable file, for
    :data:`PIPES_DIR` (what BuildKit mounts there: a scratch root with that one file)."""
    holder = space.temp_dir() / "pipes"
    holder.mkdir(mode=0o755)
    os.chmod(holder, 0o755)  # noqa: S103 (whatever the umask: any USER of the step reads it)
    script = holder / program.name
    with open(script, "x", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        fh.write(program.content)
    os.chmod(script, 0o755)  # noqa: S103 (BuildKit's mode: any USER of the step runs it)
    return Mount(holder, PIPES_DIR, readonly=True)


class _Tail:
    """Keeps the last lines a failing RUN printed, for its error message."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def last_lines(self, count: int = 5) -> str:
        try:
            data = self.path.read_bytes()[-4096:]
        except OSError:
            return ""
        lines = data.decode("utf-8", "replace").strip().splitlines()
        return " | ".join(line.strip() for line in lines[-count:] if line.strip())


class _Tee:
    """Writes what the layer writer writes to the blob and to the tree being unpacked."""

    def __init__(self, blob: Writable, tree: StreamedUnpack) -> None:
        self._blob = blob
        self._tree = tree

    def write(self, data: bytes | bytearray | memoryview) -> object:
        written = self._blob.write(data)
        self._tree.write(data)
        return written

    def flush(self) -> None:
        self._blob.flush()


class _RunFailed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _execute(
    ins: Run,
    state: StageState,
    args: tuple[str, ...],
    env: Mapping[str, str],
    network: str,
    mounts: StepMounts,
    *,
    where: str,
    space: Workspace,
    settings: RunSettings,
    compression: Compression,
) -> Layer:
    try:
        check_runnable(state.platform, settings.build_platform)
    except SandboxError as exc:
        raise BuildError(f"{where}: RUN: {exc.message}") from None
    secret_files, secret_env = provide_secrets(mounts.secrets)
    runner = settings.runner()
    lowers = space.lowers(state)
    host_mounts = mounts.mounts
    program = program_heredoc(ins)
    if program is not None:
        host_mounts = (*host_mounts, _program_mount(program, space))
    step = StepConfig(
        config=state.config,
        args=args,
        env={**dict(mounts.env), **env},
        network=check_network("private" if network == "default" else network),
        mounts=host_mounts,
        runtime=settings.runtime,
        secrets=secret_files,
        secret_env=secret_env,
    )
    output = settings.output
    tail: _Tail | None = None
    with contextlib.ExitStack() as stack:
        if output is None:
            log = stack.enter_context(
                tempfile.NamedTemporaryFile(dir=space.scratch, prefix="run-", suffix=".log")
            )
            output = log
            tail = _Tail(Path(log.name))
        # a stage's uncompressed layer is read next (COPY --from, the next RUN): its tree
        # is made while it is written instead of unpacked from the blob afterwards
        tree = space.layer_cache.unpack_while_written() if compression == "none" else None
        if tree is not None:
            stack.callback(tree.discard)  # a no-op once published
        try:
            store = space.store
            with store.session(), store.write_blob() as writer:
                # a write-only sink is all a layer needs
                sink = cast(BinaryIO, writer if tree is None else _Tee(writer, tree))
                outputs = StepOutputs(sink, compression, space.source_date_epoch, output, output)
                result = runner.run(lowers, step, outputs)
                if result.exit_code != 0 or result.layer is None:
                    raise _RunFailed(result.exit_code)
            if tree is not None:
                with store.session():
                    tree.publish(result.layer.digest)
        except _RunFailed as failed:
            detail = tail.last_lines() if tail is not None else ""
            shown = " ".join(args[len(state.shell) :]) if not ins.exec_form else " ".join(args)
            raise BuildError(
                f"{where}: RUN {shown} exited with code {failed.code}"
                + (f": {detail}" if detail else "")
            ) from None
        except SandboxError as exc:
            raise BuildError(f"{where}: cannot run the RUN step: {exc}") from exc
    return Layer.written(result.layer)
