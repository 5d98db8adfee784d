"""Running a parsed Dockerfile: stages in dependency order, each instruction for real.

The executor is the one place where the pure parts (parser, substitution, stage graph)
meet I/O: the store (base images, layers, the build cache), the build context, and the
runtime sandbox for ``RUN``.  Every instruction turns one :class:`StageState` into the
next.  Steps that make a layer (``COPY``, ``ADD``, ``RUN``, ``WORKDIR`` creating its
directory) look the build cache up first and execute only on a miss; metadata steps are
cheap and simply re-applied.  Each step emits a ``step`` event (``kind``, ``cached``,
``line``, ``message``) so callers and tests can tell what was executed.

History entries follow BuildKit's wording (``RUN /bin/sh -c ...``, ``COPY src dst``,
``ENV K=V``); metadata steps are marked ``empty_layer``.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from itertools import chain
from pathlib import Path
from typing import IO, BinaryIO, cast

from distroless.assemble.image import image_layers, store_layer, write_image
from distroless.assemble.time import rfc3339
from distroless.dockerfile.archive import archive_entries, archive_kind
from distroless.dockerfile.ast import (
    Add,
    Arg,
    Cmd,
    Command,
    Copy,
    Dockerfile,
    Entrypoint,
    Env,
    Expose,
    FileInstruction,
    Healthcheck,
    Instruction,
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
from distroless.dockerfile.ast import Mount as RunMountSpec
from distroless.dockerfile.cache import BuildCache, cache_key
from distroless.dockerfile.context import BuildContext, Match, remove_copy
from distroless.dockerfile.graph import StageGraph, build_graph, global_arg_env
from distroless.dockerfile.instructions import (
    Destination,
    Owner,
    Producer,
    absolute_dest,
    check_checksum,
    context_entries,
    created_dirs,
    download,
    fs_entries,
    is_url,
    match_in_fs,
    parse_chmod,
    parse_chown,
    url_basename,
)
from distroless.dockerfile.layerfs import FsNode, LayeredFS
from distroless.dockerfile.parser import parse, parse_file
from distroless.dockerfile.resolve_base import BaseResolver
from distroless.dockerfile.secrets import BuildSecret
from distroless.dockerfile.stage import DEFAULT_SHELL, StageState, StateDraft, StateLayer
from distroless.dockerfile.substitution import expand, expand_words
from distroless.errors import BuildError, DistrolessError, DockerfileError, SandboxError
from distroless.layers.build import media_type
from distroless.layers.compress import Compression
from distroless.layers.entry import Entry, EntryType
from distroless.layers.reader import iter_layer
from distroless.oci.models import (
    ContainerConfig,
    Descriptor,
    HistoryEntry,
    ImageConfig,
    Platform,
)
from distroless.reporter import NullReporter, Reporter
from distroless.runtime.capture import StepConfig, run_and_capture
from distroless.runtime.container import reap_orphans
from distroless.runtime.options import Mount as RunMount
from distroless.runtime.options import SecretFile, check_network
from distroless.runtime.rootfs import LayerCache
from distroless.runtime.runc import Runtime
from distroless.runtime.users import parse_group, parse_passwd
from distroless.store import Store, StoredImage
from distroless.store.store import host_platform_default

_NULL = NullReporter()
_HEREDOC_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_SECOND = 1_000_000_000
#: characters the environment and labels of one stage may hold (an execve takes at most a
#: few MiB of environment in all; labels beyond this are not metadata but data)
MAX_CONFIG_TEXT = 4 << 20

Output = IO[bytes] | int | None


@dataclass(frozen=True)
class BuildOptions:
    """What ``distroless build [-f] [--build-arg] [--target] [--platform] CONTEXT`` asks."""

    context: Path
    dockerfile: Path | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: Platform | None = None
    no_cache: bool = False
    source_date_epoch: int = 0
    compression: Compression = "gzip"
    #: where RUN steps' stdout and stderr go; None collects them for the error message
    run_output: Output = None
    runtime: str = "runc"
    #: stages built at the same time when they do not depend on each other
    jobs: int = 2
    #: ``--secret`` values by id, shown only to ``RUN --mount=type=secret`` steps
    secrets: Mapping[str, BuildSecret] = field(default_factory=dict)
    #: BuildKit's entitlements (``--allow network.host``): what RUN steps may ask for
    allow: frozenset[str] = frozenset()


@dataclass(frozen=True)
class BuildResult:
    descriptor: Descriptor
    config: ImageConfig
    stage_digests: Mapping[int, str]
    executed: tuple[str, ...]
    cached: tuple[str, ...]
    #: regular files the target's COPY/ADD steps (its own and its parent stages') wrote,
    #: as absolute paths: what an SBOM lists beside the packages
    added_files: tuple[str, ...] = ()
    #: the Dockerfile read and the sha256 of its bytes, for the build's provenance
    dockerfile: Path | None = None
    dockerfile_digest: str | None = None


def predefined_args(target: Platform, build: Platform) -> dict[str, str]:
    """BuildKit's automatic platform ARGs, visible in FROM and after a bare ``ARG NAME``."""
    return {
        "TARGETPLATFORM": str(target),
        "TARGETOS": target.os,
        "TARGETARCH": target.architecture,
        "TARGETVARIANT": target.variant or "",
        "BUILDPLATFORM": str(build),
        "BUILDOS": build.os,
        "BUILDARCH": build.architecture,
        "BUILDVARIANT": build.variant or "",
    }


def _command_text(command: Command) -> str:
    if isinstance(command, tuple):
        import json

        return json.dumps(list(command))
    return command


@dataclass(frozen=True)
class _SecretUse:
    """A ``RUN --mount=type=secret`` resolved against ``--secret``: where the value goes."""

    secret: BuildSecret
    target: str | None
    env: str | None
    mode: int
    uid: int
    gid: int


#: The entitlements ``distroless build --allow`` grants (BuildKit's names).
ENTITLEMENTS = ("network.host",)


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


class Executor:
    """One build: a parsed Dockerfile, its context, options, the store and a reporter."""

    def __init__(
        self,
        store: Store,
        dockerfile: Dockerfile,
        context: BuildContext,
        options: BuildOptions,
        *,
        resolver: BaseResolver | None = None,
        reporter: Reporter = _NULL,
    ) -> None:
        self.store = store
        self.dockerfile = dockerfile
        self.context = context
        self.options = options
        self.reporter = reporter
        self.resolver = resolver or BaseResolver(store, reporter=reporter)
        self.cache = BuildCache(store, enabled=not options.no_cache)
        self.layer_cache = LayerCache(store.state_dir("layers"))
        #: temporary files of steps (downloads, unpacked archives, RUN logs); not the store's
        #: tmp/, which ``prune`` empties file by file
        self.scratch = store.state_dir("build-scratch")
        self.build_platform = host_platform_default()
        self.target_platform = options.platform or self.build_platform
        self.states: dict[int, StageState] = {}
        self.executed: list[str] = []
        self.cached: list[str] = []
        self.created = rfc3339(options.source_date_epoch)
        self._runtime: Runtime | None = None
        self._local = threading.local()
        self._global_env: dict[str, str] = {}
        self._stack = contextlib.ExitStack()

    # -- driving ------------------------------------------------------------------------

    def build(self) -> BuildResult:
        args = dict(self.options.build_args)
        graph = build_graph(self.dockerfile, self.options.target, args)
        predefined = predefined_args(self.target_platform, self.build_platform)
        self._global_env = {**predefined, **global_arg_env(self.dockerfile, args)}
        for name in predefined:
            if name in args:
                self._global_env[name] = args[name]
        with self._stack:
            self._run_graph(graph)
        final = self.states[graph.target.index]
        desc, config = self._write_image(final)
        self.reporter.event("built", digest=desc.digest, executed=len(self.executed))
        return BuildResult(
            desc,
            config,
            {i: s.digest() for i, s in self.states.items()},
            tuple(self.executed),
            tuple(self.cached),
            self._added_files(final),
        )

    def _added_files(self, state: StageState) -> tuple[str, ...]:
        """The regular files in the stage's COPY/ADD layers (read back, so cached steps count)."""
        paths: set[str] = set()
        for digest in state.added:
            with self.store.open_blob(digest) as blob:
                for info, _ in iter_layer(blob):
                    if info.isreg() or info.islnk():
                        paths.add("/" + info.name.removeprefix("./").rstrip("/"))
        return tuple(sorted(paths))

    def _build_stage(self, graph: StageGraph, stage: Stage) -> None:
        # only the target's layers ship; the others need no compressing
        is_target = stage.index == graph.target.index
        self._local.compression = self.options.compression if is_target else "none"
        self.states[stage.index] = self._run_stage(stage, graph.base_stage(stage))

    @property
    def _compression(self) -> Compression:
        value: Compression = getattr(self._local, "compression", self.options.compression)
        return value

    def _run_graph(self, graph: StageGraph) -> None:
        """Build the needed stages; with ``jobs > 1`` independent stages run side by side."""
        if self.options.jobs <= 1 or len(graph.order) == 1:
            for stage in graph.order:
                self._build_stage(graph, stage)
            return
        pending = {s.index: s for s in graph.order}
        needs = {s.index: {d.index for d in graph.dependencies(s)} for s in graph.order}
        with ThreadPoolExecutor(max_workers=self.options.jobs) as pool:
            running: dict[Future[None], int] = {}
            try:
                while pending or running:
                    for index in sorted(i for i in pending if needs[i] <= set(self.states)):
                        future = pool.submit(self._build_stage, graph, pending.pop(index))
                        running[future] = index
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        running.pop(future)
                        future.result()  # the first failure ends the build
            finally:
                pending.clear()  # nothing new starts; running stages finish

    def _where(self, instruction: Instruction) -> str:
        return f"{self.dockerfile.filename}:{instruction.line}"

    def _expand(self, text: str, env: Mapping[str, str], instruction: Instruction) -> str:
        return expand(text, env, self.dockerfile.directives.escape, where=self._where(instruction))

    def _step(self, stage: Stage, instruction: Instruction, *, cached: bool, text: str) -> None:
        label = stage.name or f"stage-{stage.index}"
        message = f"[{label}] {'CACHED ' if cached else ''}{text}"
        self.reporter.event(
            "step",
            message=message,
            instruction=instruction.keyword,
            cached=cached,
            stage=label,
            line=instruction.line,
        )
        (self.cached if cached else self.executed).append(f"{label}:{instruction.line}")

    # -- stages -------------------------------------------------------------------------

    def _stage_platform(self, stage: Stage) -> Platform:
        if stage.platform:
            value = self._expand(stage.platform, self._global_env, stage.from_)
            return Platform.parse(value)
        return self.target_platform

    def _run_stage(self, stage: Stage, base_stage: Stage | None) -> StageState:
        where = self._where(stage.from_)
        image = self._expand(stage.base, self._global_env, stage.from_)
        platform = self._stage_platform(stage)
        if base_stage is not None:
            parent = self.states[base_stage.index]
            state = replace(parent, args=())
        elif image.lower() == "scratch":
            state = StageState(platform=platform, origin="scratch")
        else:
            stored = self.resolver.resolve(image, platform, where)
            state = self._state_from_image(stored)
        self._step(stage, stage.from_, cached=False, text=f"FROM {image}")
        triggers = state.config.on_build
        state = replace(state, config=replace(state.config, on_build=()))
        cmd_set = False
        draft: StateDraft | None = None  # metadata steps since the last layer step
        # the base's ONBUILD triggers run first, as in docker
        for instruction in chain((self._trigger(stage, t) for t in triggers), stage.instructions):
            if isinstance(instruction, Run | Copy | Add | Workdir):
                if draft is not None:
                    state, draft = draft.state(), None
                state = self._layer_instruction(stage, state, instruction)
            else:
                draft = draft or StateDraft(state)
                cmd_set = self._metadata(stage, draft, instruction, cmd_set)
        return state if draft is None else draft.state()

    def _trigger(self, stage: Stage, text: str) -> Instruction:
        """An ONBUILD trigger of the base, parsed as an instruction on the FROM's line."""
        try:
            parsed = parse(f"FROM scratch\n{text}\n", self.dockerfile.filename)
        except DockerfileError as exc:
            raise BuildError(
                f"{self._where(stage.from_)}: the base's ONBUILD trigger {text!r} is invalid: "
                f"{exc.message}"
            ) from None
        instruction = parsed.stages[0].instructions[0]
        return replace(instruction, line=stage.from_.line, end_line=stage.from_.line)

    def _state_from_image(self, image: StoredImage) -> StageState:
        return StageState(
            platform=image.config.platform,
            config=image.config.config,
            layers=image_layers(image),
            history=image.config.history,
            author=image.config.author,
            origin=image.digest,
        )

    def _fs(self, state: StageState) -> LayeredFS:
        digests = [layer.descriptor.digest for layer in state.layers]

        def produce() -> list[Path]:
            with self.store.session():
                return self.layer_cache.ensure_all(digests, self.store, self.reporter)

        return LayeredFS(produce)

    # -- instructions -------------------------------------------------------------------

    def _layer_instruction(self, stage: Stage, state: StageState, ins: Instruction) -> StageState:
        if isinstance(ins, Run):
            return self._run(stage, state, ins)
        if isinstance(ins, Copy | Add):
            return self._copy(stage, state, ins)
        if isinstance(ins, Workdir):
            return self._workdir(stage, state, ins)
        raise BuildError(f"{self._where(ins)}: {ins.keyword} cannot be executed")

    def _metadata(self, stage: Stage, draft: StateDraft, ins: Instruction, cmd_set: bool) -> bool:
        """Apply one metadata instruction to ``draft``; returns whether CMD has been set."""
        if isinstance(ins, Arg):
            self._arg(stage, draft, ins)
            return cmd_set
        env = draft.expansion_env()
        config = draft.config
        text = ins.original
        if isinstance(ins, Env):
            values = {
                self._expand(p.key, env, ins): self._expand(p.value, env, ins) for p in ins.pairs
            }
            for key, value in values.items():
                draft.set_env(key, value)
            text = "ENV " + " ".join(f"{k}={v}" for k, v in values.items())
        elif isinstance(ins, Label):
            labels = {
                self._expand(p.key, env, ins): self._expand(p.value, env, ins) for p in ins.pairs
            }
            for key, value in labels.items():
                draft.set_label(key, value)
            text = "LABEL " + " ".join(f"{k}={v}" for k, v in labels.items())
        elif isinstance(ins, Maintainer):
            draft.author = ins.name
            draft.set_label("maintainer", ins.name)
            text = f"MAINTAINER {ins.name}"
        elif isinstance(ins, User):
            user = self._expand(ins.user, env, ins)
            self._check_user(draft.base, user, ins)
            config = replace(config, user=user)
            text = f"USER {user}"
        elif isinstance(ins, Cmd):
            config = replace(config, cmd=self._argv(config, ins.command))
            cmd_set = True
            text = f"CMD {_command_text(config.cmd or ())}"
        elif isinstance(ins, Entrypoint):
            entry = self._argv(config, ins.command)
            config = replace(config, entrypoint=entry, cmd=config.cmd if cmd_set else None)
            text = f"ENTRYPOINT {_command_text(entry)}"
        elif isinstance(ins, Shell):
            config = replace(config, shell=ins.shell)
            text = f"SHELL {_command_text(ins.shell)}"
        elif isinstance(ins, Expose):
            ports = []
            for raw in ins.ports:
                for port in expand_words(
                    raw, env, self.dockerfile.directives.escape, where=self._where(ins)
                ):
                    ports.append(port if "/" in port else f"{port}/tcp")
            draft.add_ports(ports)
            text = "EXPOSE " + " ".join(ports)
        elif isinstance(ins, Volume):
            paths = [self._expand(p, env, ins) for p in ins.paths]
            if any(not p for p in paths):
                raise BuildError(f"{self._where(ins)}: VOLUME specified with an empty path")
            draft.add_volumes(paths)
            text = "VOLUME " + _command_text(tuple(paths))
        elif isinstance(ins, Stopsignal):
            config = replace(config, stop_signal=self._expand(ins.signal, env, ins))
            text = f"STOPSIGNAL {config.stop_signal}"
        elif isinstance(ins, Healthcheck):
            config = replace(config, healthcheck=self._healthcheck(ins))
        elif isinstance(ins, Onbuild):
            config = replace(config, on_build=(*config.on_build, ins.expression))
            text = f"ONBUILD {ins.expression}"
        else:
            raise BuildError(f"{self._where(ins)}: {ins.keyword} cannot be executed")
        if draft.text_size > max(MAX_CONFIG_TEXT, draft.start_size):
            raise DockerfileError(
                f"{self._where(ins)}: {ins.keyword}: the stage's environment and labels would "
                f"exceed {MAX_CONFIG_TEXT} characters"
            )
        self._step(stage, ins, cached=False, text=text)
        draft.config = config
        draft.history.append(HistoryEntry(created_by=text, created=self.created, empty_layer=True))
        return cmd_set

    @staticmethod
    def _argv(config: ContainerConfig, command: Command) -> tuple[str, ...]:
        if isinstance(command, tuple):
            return command
        return (*(config.shell or DEFAULT_SHELL), command)

    @staticmethod
    def _healthcheck(ins: Healthcheck) -> dict[str, object]:
        if ins.command is None:
            return {"Test": ["NONE"]}
        test = (
            ["CMD", *ins.command] if isinstance(ins.command, tuple) else ["CMD-SHELL", ins.command]
        )
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

    def _arg(self, stage: Stage, draft: StateDraft, ins: Arg) -> None:
        build_args = self.options.build_args
        global_names = {a.name for g in self.dockerfile.global_args for a in g.args}
        for arg in ins.args:
            value: str | None
            if arg.name in build_args:
                value = build_args[arg.name]
            elif arg.default is not None:
                value = self._expand(arg.default, draft.expansion_env(), ins)
            elif arg.name in self._global_env and (
                arg.name in global_names
                or arg.name in predefined_args(self.target_platform, self.build_platform)
            ):
                value = self._global_env[arg.name]
            else:
                value = None
            if value is not None:
                draft.set_arg(arg.name, value)
        self._step(stage, ins, cached=False, text=ins.original)

    def _check_user(self, state: StageState, user: str, ins: Instruction) -> None:
        name, _, group = user.partition(":")
        if not name:
            raise BuildError(f"{self._where(ins)}: USER needs a user name or uid")
        needs_passwd = not name.isdigit()
        needs_group = bool(group) and not group.isdigit()
        if not needs_passwd and not needs_group:
            return
        fs = self._fs(state)
        if needs_passwd:
            users = {e.name for e in parse_passwd(fs.read_text("/etc/passwd") or "")}
            if name not in users:
                raise BuildError(
                    f"{self._where(ins)}: USER {user}: {name!r} is not in the stage's "
                    "/etc/passwd; use a numeric uid or add the user"
                )
        if needs_group:
            groups = {e.name for e in parse_group(fs.read_text("/etc/group") or "")}
            if group not in groups:
                raise BuildError(
                    f"{self._where(ins)}: USER {user}: group {group!r} is not in the stage's "
                    "/etc/group"
                )

    # -- layer steps --------------------------------------------------------------------

    def _write_layer(self, entries: Iterable[Entry]) -> StateLayer:
        return store_layer(
            self.store,
            entries,
            compression=self._compression,
            source_date_epoch=self.options.source_date_epoch,
        )

    def _layer_step(
        self,
        stage: Stage,
        state: StageState,
        ins: Instruction,
        *,
        text: str,
        inputs: list[str],
        make: Callable[[], StateLayer | None],
        comment: str | None = None,
    ) -> StageState:
        """Look the step up in the cache; on a miss run ``make`` and record its layer."""
        key = cache_key(state.digest(), text, inputs)
        history = HistoryEntry(created_by=text, created=self.created, comment=comment)
        hit = self.cache.get(key)
        if hit is not None:
            self._step(stage, ins, cached=True, text=text)
            return state.add_layer(hit, history)
        self._step(stage, ins, cached=False, text=text)
        layer = make()
        if layer is None:
            return state.add_history(replace(history, empty_layer=True))
        self.cache.put(key, layer)
        return state.add_layer(layer, history)

    def _workdir(self, stage: Stage, state: StageState, ins: Workdir) -> StageState:
        path = self._expand(ins.path, state.expansion_env(), ins)
        if not path:
            raise BuildError(f"{self._where(ins)}: WORKDIR needs a path")
        full = posixpath.normpath(posixpath.join(state.config.working_dir or "/", path))
        state = state.with_config(replace(state.config, working_dir=full))
        text = f"WORKDIR {full}"
        if full == "/":
            self._step(stage, ins, cached=False, text=text)
            return state.add_history(HistoryEntry(text, self.created, empty_layer=True))

        def make() -> StateLayer | None:
            fs = self._fs(state)
            if fs.lookup(full) is not None:
                return None
            return self._write_layer([Entry.directory(full)])

        return self._layer_step(stage, state, ins, text=text, inputs=[], make=make)

    # COPY / ADD

    def _copy(self, stage: Stage, state: StageState, ins: FileInstruction) -> StageState:
        where = self._where(ins)
        env = state.expansion_env()
        sources = [self._expand(s, env, ins) for s in ins.sources]
        dest_raw = self._expand(ins.dest, env, ins)
        if not sources and not ins.heredocs:
            raise BuildError(f"{where}: {ins.keyword} needs at least one source")
        if ins.parents or ins.excludes:
            flag = "--parents" if ins.parents else "--exclude"
            raise BuildError(f"{where}: {ins.keyword} {flag} is not supported by this builder")
        if isinstance(ins, Add) and any(
            s.endswith(".git") or s.startswith("git@") for s in sources
        ):
            raise BuildError(f"{where}: ADD of a git repository is not supported; clone it first")
        dest, dest_is_dir = absolute_dest(dest_raw, state.config.working_dir)
        chmod = (
            parse_chmod(self._expand(ins.chmod, env, ins), where) if ins.chmod is not None else None
        )
        chown_spec = self._expand(ins.chown, env, ins) if ins.chown is not None else None
        from_ref = self._expand(ins.from_, env, ins) if ins.from_ is not None else None
        is_add = isinstance(ins, Add)
        flags = []
        if from_ref is not None:
            flags.append(f"--from={from_ref}")
        if chown_spec is not None:
            flags.append(f"--chown={chown_spec}")
        if chmod is not None:
            flags.append(f"--chmod={chmod:o}")
        text = " ".join(
            [ins.keyword, *flags, *sources, *(f"<<{h.name}" for h in ins.heredocs), dest_raw]
        )

        # what the step reads, for the cache key and for making the layer
        inputs: list[str] = [f"dest={dest}:{dest_is_dir}"]
        producers: list[Producer] = []
        unpacks = False  # an archive is unpacked into a directory whatever the dest says
        owner_holder: dict[str, Owner] = {}

        def owner() -> Owner:
            if "o" not in owner_holder:
                owner_holder["o"] = (
                    parse_chown(chown_spec, self._fs(state), where)
                    if chown_spec is not None
                    else Owner()
                )
            return owner_holder["o"]

        for doc in ins.heredocs:
            content = doc.content
            if doc.expand:
                content = self._expand_heredoc(content, env)
            data = content.encode()
            inputs.append("heredoc:" + hashlib.sha256(data).hexdigest() + ":" + doc.name)

            def heredoc_entries(
                to: Destination, data: bytes = data, name: str = doc.name
            ) -> Iterator[Entry]:
                target = posixpath.join(to.path, name) if to.is_dir else to.path
                o = owner()
                yield Entry.file(target, data, chmod if chmod is not None else 0o644, o.uid, o.gid)

            producers.append(heredoc_entries)

        if from_ref is not None:
            src_fs, identity = self._from_source(from_ref, state, ins)
            for source in sources:
                nodes = match_in_fs(src_fs, source, where)
                inputs.append(f"from={identity}:{source}:" + ",".join(n.path for n in nodes))
                for node in nodes:

                    def stage_entries(to: Destination, node: FsNode = node) -> Iterator[Entry]:
                        if node.is_dir:
                            target = to.path
                        elif to.is_dir:
                            target = posixpath.join(to.path, posixpath.basename(node.path))
                        else:
                            target = to.path
                        yield from fs_entries(src_fs, node, target, owner=owner(), mode=chmod)

                    producers.append(stage_entries)
        else:
            for source in sources:
                if is_add and is_url(source):
                    producers.append(self._url_source(ins, source, inputs))
                    continue
                matches = self.context.match(source, where)
                inputs.append(f"context:{source}:{self.context.digest(matches)}")
                for m in matches:
                    unpack = (
                        isinstance(ins, Add)
                        and ins.unpack is not False
                        and m.disk.is_file()
                        and archive_kind(m.disk) is not None
                    )
                    if unpack:
                        unpacks = True
                        producers.append(self._archive_source(m.disk, where))
                        continue

                    def ctx_entries(to: Destination, m: Match = m) -> Iterator[Entry]:
                        if m.disk.is_dir():
                            target = to.path
                        elif to.is_dir:
                            target = posixpath.join(to.path, posixpath.basename(m.rel))
                        else:
                            target = to.path

                        def excl(rel: str, base: str = m.resolved) -> bool:
                            # .dockerignore speaks of the paths the copy really reads
                            return self.context.excluded(f"{base}/{rel}" if base else rel)

                        yield from context_entries(
                            m.disk, target, owner=owner(), mode=chmod, exclude=excl
                        )

                    producers.append(ctx_entries)

        # several sources (or a glob matching several files) need a directory destination
        many = len(producers) > 1
        if many and not dest_is_dir:
            raise BuildError(
                f"{where}: with more than one source the destination must be a directory "
                f"ending in '/' (got {dest_raw!r})"
            )
        if chown_spec is not None:
            inputs.append(f"chown={chown_spec}")

        def make() -> StateLayer | None:
            fs = self._fs(state)
            target = dest
            is_dir = dest_is_dir or many or unpacks
            if target != "/":
                resolved = fs.resolve(target, follow_last=is_dir)
                if not is_dir:
                    node = fs.lookup(resolved)
                    if node is not None and node.is_dir:
                        is_dir = True
                        resolved = fs.resolve(target)  # into the directory a link names
                target = resolved
            with tempfile.TemporaryDirectory(dir=self.scratch) as scratch:
                to = Destination(target, is_dir, fs, Path(scratch))
                entries: list[Entry] = list(self._parent_entries(fs, target, include_self=is_dir))
                entries.extend(
                    created_dirs(fs, target if is_dir else posixpath.dirname(target), owner())
                )
                try:
                    for produce in producers:
                        entries.extend(produce(to))
                except RecursionError:  # a directory walk below is recursive
                    raise BuildError(
                        f"{where}: {ins.keyword} sources are nested too deeply to copy"
                    ) from None
                return self._write_layer(entries)

        after = self._layer_step(stage, state, ins, text=text, inputs=inputs, make=make)
        if len(after.layers) > len(state.layers):
            after = replace(after, added=(*after.added, after.layers[-1].descriptor.digest))
        return after

    def _parent_entries(self, fs: LayeredFS, target: str, *, include_self: bool) -> Iterator[Entry]:
        """The existing directories above ``target`` with their metadata (not 0755 defaults)."""
        path = target if include_self else posixpath.dirname(target)
        chain = []
        while path not in ("/", ""):
            chain.append(path)
            path = posixpath.dirname(path)
        for p in reversed(chain):
            node = fs.lookup(p, follow=False)
            if node is None or not node.is_dir:
                continue
            st = node.st
            yield Entry(
                p.lstrip("/"), EntryType.DIR, mode=st.st_mode & 0o7777,
                uid=st.st_uid, gid=st.st_gid, mtime=int(st.st_mtime),
            )  # fmt: skip

    @staticmethod
    def _expand_heredoc(content: str, env: Mapping[str, str]) -> str:
        """``$NAME`` and ``${NAME}`` in an unquoted here-document body; nothing else changes."""
        return _HEREDOC_VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), content)

    def _from_source(self, ref: str, state: StageState, ins: Instruction) -> tuple[LayeredFS, str]:
        found = self.dockerfile.stage(ref)
        if found is not None and found.index in self.states:
            src = self.states[found.index]
            return self._fs(src), src.digest()
        if found is not None:
            raise BuildError(
                f"{self._where(ins)}: stage {ref!r} has not been built before this step"
            )
        image = self.resolver.resolve(ref, state.platform, self._where(ins), role="copy-from")
        return self._fs(self._state_from_image(image)), image.digest

    @staticmethod
    def _archive_source(disk: Path, where: str) -> Producer:
        def produce(to: Destination) -> Iterator[Entry]:
            yield from archive_entries(disk, to.path, fs=to.fs, spool_dir=to.scratch, where=where)

        return produce

    def _url_source(self, ins: FileInstruction, url: str, inputs: list[str]) -> Producer:
        where = self._where(ins)
        checksum = ins.checksum if isinstance(ins, Add) else None
        tmpdir = Path(self._stack.enter_context(tempfile.TemporaryDirectory(dir=self.scratch)))
        downloaded = tmpdir / "download"
        if checksum is not None:
            pinned = check_checksum(checksum, where)
            inputs.append(f"url:{url}:{pinned}")
            fetched = False
        else:
            inputs.append(f"url:{url}:{download(url, downloaded, None, where)}")
            fetched = True

        def produce(to: Destination) -> Iterator[Entry]:
            if not fetched:
                download(url, downloaded, checksum, where)
            target = posixpath.join(to.path, url_basename(url)) if to.is_dir else to.path
            data_size = downloaded.stat().st_size

            def opener() -> BinaryIO:
                return downloaded.open("rb")

            yield Entry(
                target.lstrip("/"), EntryType.FILE, mode=0o600, size=data_size, opener=opener
            )

        return produce

    # RUN

    def _run(self, stage: Stage, state: StageState, ins: Run) -> StageState:
        where = self._where(ins)
        mounts, mount_inputs, secrets = self._run_mounts(state, ins)
        network = ins.network or "default"
        if network not in ("default", "host", "none"):
            raise BuildError(
                f"{where}: RUN --network={network} is not supported (use default, host or none)"
            )
        if network == "host" and "network.host" not in self.options.allow:
            raise BuildError(
                f"{where}: RUN --network=host shares the host's network with the step; "
                "allow it with `distroless build --allow network.host`"
            )
        security = ins.flag("security")
        if security not in (None, "sandbox"):
            raise BuildError(
                f"{where}: RUN --security={security} is not supported: RUN steps always "
                "run confined"
            )
        args = self._run_args(state, ins)
        # build args in scope reach the command as environment variables (not ENV-overridden)
        env_names = set(state.env)
        run_env = {k: v for k, v in state.args if k not in env_names}
        shown = " ".join(args) if not ins.exec_form else _command_text(args)
        text = f"RUN {shown}"
        if run_env:
            text = (
                f"RUN |{len(run_env)} "
                + " ".join(f"{k}={v}" for k, v in sorted(run_env.items()))
                + f" {shown}"
            )
        inputs = [f"network={network}", *mount_inputs]
        inputs += [f"heredoc:{h.name}:{h.content}" for h in ins.heredocs]

        def make() -> StateLayer | None:
            secret_files, secret_env = self._provide_secrets(secrets)
            return self._execute_run(
                state,
                ins,
                args,
                run_env,
                network,
                mounts,
                secret_files=secret_files,
                secret_env=secret_env,
            )

        return self._layer_step(stage, state, ins, text=text, inputs=inputs, make=make)

    def _run_mounts(
        self, state: StageState, ins: Run
    ) -> tuple[tuple[RunMount, ...], list[str], list[_SecretUse]]:
        """``--mount=type=cache`` (kept between builds, outside the image), ``type=bind``
        (a context path, read-only unless ``rw``), ``type=tmpfs`` (an empty scratch dir) and
        ``type=secret`` (a ``--secret`` value, provided when the step runs); none of them
        ends up in the layer.  Bind sources are part of the cache key; secret values are
        not (only their id, target and whether one was given), as with BuildKit."""
        where = self._where(ins)
        out: list[RunMount] = []
        inputs: list[str] = []
        secrets: list[_SecretUse] = []
        for mount in ins.mounts:
            if mount.type == "secret":
                use = self._secret_mount(state, ins, mount)
                if use is not None:
                    secrets.append(use)
                    inputs.append(f"mount=secret:{use.secret.id}:{use.target}:{use.env}")
                    inputs.append(f"mode={use.mode:o}:{use.uid}:{use.gid}")
                else:
                    inputs.append(f"mount=secret:{mount.get('id')}:absent")
                continue
            if mount.type not in ("cache", "tmpfs", "bind"):
                raise BuildError(f"{where}: RUN --mount=type={mount.type} is not supported")
            target = mount.get("target") or mount.get("dst") or mount.get("destination")
            if not target:
                raise BuildError(f"{where}: RUN --mount=type={mount.type} needs target=PATH")
            target = posixpath.normpath(
                posixpath.join(
                    state.config.working_dir or "/",
                    self._expand(target, state.expansion_env(), ins),
                )
            )
            truthy = ("", "true", "1")
            readonly = any((mount.get(k) or "false").lower() in truthy for k in ("ro", "readonly"))
            if mount.type == "cache":
                ident = mount.get("id") or target
                digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
                source = self.store.state_dir("build-mounts", "cache", digest)
                out.append(RunMount(source, target, readonly))
                inputs.append(f"mount=cache:{target}")
            elif mount.type == "tmpfs":
                empty = self._stack.enter_context(tempfile.TemporaryDirectory(dir=self.scratch))
                out.append(RunMount(Path(empty), target, False))
                inputs.append(f"mount=tmpfs:{target}")
            elif mount.type == "bind":
                if mount.source_stage is not None:
                    raise BuildError(f"{where}: RUN --mount=type=bind,from=... is not supported")
                bind_source = mount.get("source") or mount.get("src") or "."
                match = self.context.match(bind_source, where)[0]
                rw = (mount.get("rw") or mount.get("readwrite") or "false").lower() in truthy
                out.append(RunMount(self._bind_view(match, rw), target, not rw))
                inputs.append(f"mount=bind:{target}:{self.context.digest([match])}")
            else:
                raise BuildError(f"{where}: RUN --mount=type={mount.type} is not supported")
        return tuple(out), inputs, secrets

    def _bind_view(self, match: Match, rw: bool) -> Path:
        """What a ``type=bind`` mount of a context path shows: the path as the build sees it.

        The source is already resolved inside the context.  A directory in which
        .dockerignore hides something is mounted as a filtered copy (hard links, built
        only then); writes (``rw``) go to a throwaway copy, never to the user's context.
        """
        if not rw and not self.context.hides_below(match):
            return match.disk
        scratch = Path(self._stack.enter_context(tempfile.TemporaryDirectory(dir=self.scratch)))
        view = scratch / "bind"
        if match.disk.is_dir():
            self._stack.callback(remove_copy, view)
            self.context.filtered_copy(match, view, link=not rw)
        else:
            shutil.copy2(match.disk, view, follow_symlinks=False)
        return view

    def _secret_mount(self, state: StageState, ins: Run, mount: RunMountSpec) -> _SecretUse | None:
        """Check a secret mount's options; None when an optional secret was not given."""
        where = self._where(ins)
        secret_id = mount.get("id")
        target = mount.get("target") or mount.get("dst") or mount.get("destination")
        env_name = mount.get("env")
        if not secret_id:
            if not target:
                raise BuildError(f"{where}: RUN --mount=type=secret needs id=NAME")
            secret_id = posixpath.basename(target)
        required = (mount.get("required") or "false").lower() in ("", "true", "1")
        secret = self.options.secrets.get(secret_id)
        if secret is None:
            if required:
                raise BuildError(
                    f"{where}: the secret {secret_id!r} is required but was not given "
                    f"(pass --secret id={secret_id},src=FILE)"
                )
            return None
        if target is None and env_name is None:
            target = f"/run/secrets/{secret_id}"
        if target is not None:
            target = posixpath.normpath(
                posixpath.join(
                    state.config.working_dir or "/",
                    self._expand(target, state.expansion_env(), ins),
                )
            )
            if target == "/":
                raise BuildError(f"{where}: a secret cannot be mounted over /")
        if env_name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env_name):
            raise BuildError(
                f"{where}: RUN --mount=type=secret,env={env_name}: not a variable name"
            )
        numbers: dict[str, int] = {}
        for key, default, base in (("mode", 0o400, 8), ("uid", 0, 10), ("gid", 0, 10)):
            raw = mount.get(key)
            try:
                numbers[key] = default if raw is None else int(raw, base)
            except ValueError:
                raise BuildError(
                    f"{where}: RUN --mount=type=secret,{key}={raw}: not a number"
                ) from None
        return _SecretUse(
            secret, target, env_name, numbers["mode"] & 0o7777, numbers["uid"], numbers["gid"]
        )

    def _provide_secrets(
        self, uses: list[_SecretUse]
    ) -> tuple[tuple[SecretFile, ...], dict[str, str]]:
        """Files and variables for one RUN.  The runtime hands them to the container
        through a tmpfs only the container's runtime sees; nothing is written here."""
        files: list[SecretFile] = []
        env: dict[str, str] = {}
        for use in uses:
            if use.env is not None:
                try:
                    env[use.env] = use.secret.value.decode()
                except UnicodeDecodeError:
                    raise BuildError(
                        f"the secret {use.secret.id!r} is not UTF-8 text and cannot be "
                        f"exposed as the variable {use.env}"
                    ) from None
            if use.target is not None:
                files.append(SecretFile(use.target, use.secret.value, use.mode, use.uid, use.gid))
        return tuple(files), env

    def _run_args(self, state: StageState, ins: Run) -> tuple[str, ...]:
        if isinstance(ins.command, tuple):
            return ins.command
        command = ins.command
        if ins.heredocs:
            words = command.split()
            if words and all(w.startswith("<<") or (w[:1].isdigit() and "<<" in w) for w in words):
                # RUN <<EOF: the here-document is the script
                return (*state.shell, ins.heredocs[0].content)
            body = "".join(f"{h.content}{h.name}\n" for h in ins.heredocs)
            command = f"{command}\n{body}"
        return (*state.shell, command)

    def _runtime_for_run(self) -> Runtime:
        if self._runtime is None:
            self._runtime = Runtime.find(self.options.runtime)
        return self._runtime

    def _execute_run(
        self,
        state: StageState,
        ins: Run,
        args: tuple[str, ...],
        env: Mapping[str, str],
        network: str,
        mounts: tuple[RunMount, ...] = (),
        *,
        secret_files: tuple[SecretFile, ...] = (),
        secret_env: Mapping[str, str] | None = None,
    ) -> StateLayer:
        where = self._where(ins)
        if state.platform.architecture != self.build_platform.architecture:
            raise BuildError(
                f"{where}: RUN needs a {state.platform} sandbox, but this host is "
                f"{self.build_platform} (emulation is not supported)"
            )
        runtime = self._runtime_for_run()
        with self.store.session():
            lowers = self.layer_cache.ensure_all(
                [layer.descriptor.digest for layer in state.layers], self.store, self.reporter
            )
        step = StepConfig(
            config=state.config,
            args=args,
            env=dict(env),
            network=check_network("private" if network == "default" else network),
            mounts=mounts,
            runtime=runtime.name,
            secrets=secret_files,
            secret_env=dict(secret_env or {}),
        )
        output = self.options.run_output
        tail: _Tail | None = None
        with contextlib.ExitStack() as stack:
            if output is None:
                log = stack.enter_context(
                    tempfile.NamedTemporaryFile(dir=self.scratch, prefix="run-", suffix=".log")
                )
                output = log
                tail = _Tail(Path(log.name))
            try:
                with self.store.session(), self.store.write_blob() as writer:
                    result = run_and_capture(
                        lowers,
                        step,
                        cast(BinaryIO, writer),
                        self._compression,
                        state_root=self.store.state_dir("build"),
                        source_date_epoch=self.options.source_date_epoch,
                        stdout=output,
                        stderr=output,
                        runtime=runtime,
                        reporter=self.reporter,
                    )
                    if result.exit_code != 0 or result.layer is None:
                        raise _RunFailed(result.exit_code)
            except _RunFailed as failed:
                detail = tail.last_lines() if tail is not None else ""
                shown = " ".join(args[len(state.shell) :]) if not ins.exec_form else " ".join(args)
                raise BuildError(
                    f"{where}: RUN {shown} exited with code {failed.code}"
                    + (f": {detail}" if detail else "")
                ) from None
            except SandboxError as exc:
                raise BuildError(f"{where}: cannot run the RUN step: {exc}") from exc
        info = result.layer
        return StateLayer(Descriptor(media_type(info), info.digest, info.size), info.diff_id)

    # -- the image ----------------------------------------------------------------------

    def _write_image(self, state: StageState) -> tuple[Descriptor, ImageConfig]:
        return write_image(
            self.store,
            platform=state.platform,
            container=state.config,
            layers=state.layers,
            history=state.history,
            created=self.created,
            author=state.author,
        )


class _RunFailed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def build_dockerfile(
    store: Store,
    options: BuildOptions,
    *,
    resolver: BaseResolver | None = None,
    reporter: Reporter = _NULL,
) -> BuildResult:
    """Build ``options.context`` with its Dockerfile into ``store``; the image is untagged.

    Raises :class:`DockerfileError` for a bad Dockerfile, :class:`BuildError` naming the
    line for a failing step, :class:`NotFoundError` for a base that cannot be found.
    """
    context_dir = Path(options.context)
    dockerfile_path = options.dockerfile or context_dir / "Dockerfile"
    if not dockerfile_path.is_file() and options.dockerfile is None:
        alt = context_dir / "dockerfile"
        dockerfile_path = alt if alt.is_file() else dockerfile_path
    dockerfile = parse_file(dockerfile_path)
    source_digest = "sha256:" + hashlib.sha256(dockerfile_path.read_bytes()).hexdigest()
    context = BuildContext.load(context_dir, dockerfile_path)
    reap_orphans(store.root)  # what a killed build or run left: containers, mounts, state
    with store.session():
        try:
            result = Executor(
                store, dockerfile, context, options, resolver=resolver, reporter=reporter
            ).build()
            return replace(result, dockerfile=dockerfile_path, dockerfile_digest=source_digest)
        except (OSError, subprocess.SubprocessError) as exc:
            if isinstance(exc, DistrolessError):
                raise
            raise BuildError(f"{dockerfile_path}: build failed: {exc}") from exc


__all__ = [
    "BuildOptions",
    "BuildResult",
    "Executor",
    "build_dockerfile",
    "predefined_args",
]
