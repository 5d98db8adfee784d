"""Running a parsed Dockerfile: stages in dependency order, each instruction dispatched.

The executor is the one place where the pure parts (parser, substitution, stage graph)
meet I/O: the store (base images, layers, the build cache), the build context, and the
sandbox for ``RUN``.  It drives the stage graph (independent stages side by side) and hands
each instruction to the module that knows it: metadata steps to :mod:`.metadata` (pure,
re-applied on every build), ``COPY``/``ADD`` to :mod:`.copy`, ``RUN`` to :mod:`.run`.  Steps
that make a layer (those, and a ``WORKDIR`` creating its directory) look the build cache up
first and make their layer only on a miss.  Each step emits a ``step`` event (``kind``,
``cached``, ``line``, ``message``) so callers and tests can tell what was executed.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import subprocess
import tarfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path

from distroless.assemble.cache import keyed_layers
from distroless.assemble.image import image_layers, write_image
from distroless.assemble.time import rfc3339
from distroless.dockerfile.ast import (
    Add,
    Copy,
    Dockerfile,
    FileInstruction,
    Instruction,
    Run,
    Stage,
    Workdir,
)
from distroless.dockerfile.cache import BuildCache, cache_key
from distroless.dockerfile.content_hashes import ContentHashes
from distroless.dockerfile.context import BuildContext
from distroless.dockerfile.copy import copy_step, created_dirs, parent_entries, parse_chown
from distroless.dockerfile.copy_sources import Owner
from distroless.dockerfile.graph import StageGraph, build_graph, global_arg_env
from distroless.dockerfile.layerfs import LayeredFS
from distroless.dockerfile.metadata import MetadataScope, apply_metadata
from distroless.dockerfile.named_contexts import NamedContexts
from distroless.dockerfile.options import (
    ENTITLEMENTS,
    BuildOptions,
    BuildResult,
    check_build_args,
    predefined_args,
)
from distroless.dockerfile.parser import parse, parse_file
from distroless.dockerfile.resolve_base import BaseResolver
from distroless.dockerfile.run import RunSettings, run_step
from distroless.dockerfile.shared_cache import SharedCache
from distroless.dockerfile.stage import StageState, StateDraft
from distroless.dockerfile.step_runner import (
    ChrootRunner,
    SandboxRunner,
    StepRunner,
    chosen_isolation,
)
from distroless.dockerfile.workspace import LayerStep, SourceFile, Workspace
from distroless.errors import BuildError, DistrolessError, DockerfileError
from distroless.layers.compress import Compression
from distroless.layers.layer import Layer
from distroless.layers.reader import iter_layer
from distroless.oci.models import DEFAULT_PATH, ContainerConfig, HistoryEntry, Platform
from distroless.reporter import NullReporter, Reporter
from distroless.runtime.container import reap_orphans
from distroless.runtime.rootfs import LayerCache
from distroless.runtime.runc import Runtime
from distroless.store import Store, StoredImage
from distroless.verify.layer_scans import LayerScans

_NULL = NullReporter()

#: The warning of a build that falls back to ``--isolation chroot`` by itself.
CHROOT_FALLBACK = (
    "this machine refuses new namespaces (an unprivileged container?): RUN steps run "
    "with --isolation chroot, sharing its network and processes (docs/ci.md)"
)


class _Refused(Exception):
    """A shared cache hit whose layer could not be fetched: the build starts over without it."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class _Job:
    """One stage being built, and how its layers are compressed: only the target's ship,
    so the others need no compressing."""

    stage: Stage
    compression: Compression

    @property
    def label(self) -> str:
        return self.stage.name or f"stage-{self.stage.index}"


class Executor:
    """One build: a parsed Dockerfile, its context, options, the store and a reporter.

    ``runner`` runs the RUN steps; without one, the sandbox of ``options.runtime`` is found
    when the first RUN step runs (a build without RUN needs no runtime).  ``shared`` is the
    cache shared with other machines (``--cache-from``, ``--cache-to``): a step the local
    cache misses is looked up there, and its layer fetched only when something needs it.
    """

    def __init__(
        self,
        store: Store,
        dockerfile: Dockerfile,
        context: BuildContext,
        options: BuildOptions,
        *,
        resolver: BaseResolver | None = None,
        reporter: Reporter = _NULL,
        runner: StepRunner | None = None,
        shared: SharedCache | None = None,
        cache: BuildCache | None = None,
    ) -> None:
        self.store = store
        self.dockerfile = dockerfile
        self.options = options
        self.reporter = reporter
        self.resolver = resolver or BaseResolver(store, reporter=reporter)
        self.cache = cache or BuildCache(store, enabled=not options.no_cache)
        self.source = SourceFile(dockerfile.filename, dockerfile.directives.escape)
        self.space = Workspace(
            store,
            context,
            LayerCache(store.state_dir("layers")),
            store.state_dir("build-scratch"),
            contextlib.ExitStack(),
            reporter,
            options.source_date_epoch,
            fetch=self._fetch_missing if shared or self.resolver.lazy_puller else None,
        )
        self.shared = shared
        self.named = NamedContexts(
            options.named_contexts,
            space=self.space,
            resolve=self.resolver.resolve,
            from_image=self._state_from_image,
            compression=options.compression,
        )
        #: stages a named context of the same name stands for (set when the build starts)
        self._replaced: frozenset[int] = frozenset()
        #: layer digest -> the step key of a shared cache hit not downloaded yet
        self._pending: dict[str, str] = {}
        #: step key -> (stage index, layer) of every layer step, for the export
        self._results: dict[str, tuple[int, Layer]] = {}
        self._fetch_lock = threading.Lock()
        self.build_platform = Platform.host()
        self.target_platform = options.platform or self.build_platform
        self.states: dict[int, StageState] = {}
        self.executed: list[str] = []
        self.cached: list[str] = []
        self.created = rfc3339(options.source_date_epoch)
        self._runner = runner
        self.run_settings = RunSettings(
            secrets=options.secrets,
            allow=options.allow,
            output=options.run_output,
            runtime=options.runtime,
            build_platform=self.build_platform,
            runner=self._step_runner,
            from_stage=self._mount_source,
            ssh=options.ssh,
        )
        self._global_env: dict[str, str] = {}
        self._metadata_scope: MetadataScope  # once the global ARGs are known

    # -- driving ------------------------------------------------------------------------

    def build(self) -> BuildResult:
        check_build_args(self.options.build_args)
        self._replaced = self.named.replaced(self.dockerfile)
        args = dict(self.options.build_args)
        graph = build_graph(self.dockerfile, self.options.target, args, self._replaced)
        predefined = predefined_args(self.target_platform, self.build_platform)
        self._global_env = {**predefined, **global_arg_env(self.dockerfile, args)}
        for name in predefined:
            if name in args:
                self._global_env[name] = args[name]
        self._metadata_scope = self._scope()
        for warning in self.dockerfile.warnings:
            self.reporter.event("warning", message=warning)
        final = self._run_all(graph)
        desc, config = write_image(
            self.store,
            platform=final.platform,
            container=final.config,
            layers=final.layers,
            history=final.history,
            created=self.created,
            author=final.author,
        )
        if self.shared is not None:
            self._export(graph)
        self.reporter.event("built", digest=desc.digest, executed=len(self.executed))
        return BuildResult(
            desc,
            config,
            tuple(self.executed),
            tuple(self.cached),
            self._added_files(final) if self.options.list_added_files else (),
        )

    def _run_all(self, graph: StageGraph) -> StageState:
        """Build every stage; the target's layers are all in the store afterwards.

        A shared cache hit whose layer turns out unusable (a digest that does not match, a
        registry gone) is refused and the build starts over: the steps fetched so far are
        local hits now, and the refused one (and what follows it) is built.
        """
        while True:
            self.states, self.executed, self.cached = {}, [], []
            self._pending.clear()
            self._results.clear()
            try:
                with self.space.stack:
                    self._run_graph(graph)
                final = self.states[graph.target.index]
                self._fetch_missing(final.layers)
                return final
            except _Refused as refused:
                assert self.shared is not None
                self.shared.refuse(refused.key, refused.reason)

    def _fetch_missing(self, layers: Sequence[Layer]) -> None:
        """Download the layers of shared cache hits among ``layers``, each of which becomes
        a local cache entry, so the next build on this machine needs no download; and
        those of base images pulled without their layers."""
        with self._fetch_lock:
            self.resolver.fetch_layers([layer.descriptor for layer in layers])
        if self.shared is None:
            return
        with self._fetch_lock:
            for layer in layers:
                key = self._pending.get(layer.descriptor.digest)
                if key is None:
                    continue
                if not self.store.has_blob(layer.descriptor.digest):
                    try:
                        with self.store.session():
                            self.shared.fetch(key, self.store)
                    except (DistrolessError, OSError) as exc:
                        raise _Refused(key, str(exc)) from None
                self.cache.put(key, layer)
                del self._pending[layer.descriptor.digest]

    def _export(self, graph: StageGraph) -> None:
        """``mode=min``: the steps of the stages the image is made of; ``max``: all.  With
        them go the package-made layers of those stages' built-in bases, so that a runner
        without those bases builds them from the cache, not from Debian's .debs."""
        assert self.shared is not None
        if self.shared.sink is None:
            return
        stages = set(self.states)
        if self.shared.mode == "min":
            stages = set()
            stage: Stage | None = graph.target
            while stage is not None:
                stages.add(stage.index)
                stage = graph.base_stage(stage)
        entries = {key: layer for key, (index, layer) in self._results.items() if index in stages}
        used = (layer.descriptor.digest for i in stages for layer in self.states[i].layers)
        entries.update(keyed_layers(self.store, used))
        with self.store.session():
            self.shared.export(entries, self.store)

    def _scope(self) -> MetadataScope:
        global_names = {a.name for g in self.dockerfile.global_args for a in g.args}
        predefined = predefined_args(self.target_platform, self.build_platform)
        return MetadataScope(
            source=self.source,
            created=self.created,
            build_args=self.options.build_args,
            global_env=self._global_env,
            inherited=frozenset(global_names | set(predefined)),
        )

    def _step_runner(self) -> StepRunner:
        if self._runner is None:
            state_root = self.store.state_dir("build")
            isolation = chosen_isolation(self.options.isolation)
            if isolation == "chroot":
                if self.options.isolation == "auto":
                    self.reporter.event("warning", message=CHROOT_FALLBACK)
                self._runner = ChrootRunner(state_root)
            else:
                runtime = Runtime.find(self.options.runtime)
                self._runner = SandboxRunner(runtime, state_root, self.reporter)
        return self._runner

    def _added_files(self, state: StageState) -> tuple[str, ...]:
        """The regular files in the stage's COPY/ADD layers (read back, so cached steps count).

        A layer an earlier SBOM scanned is not read again: its record lists its members."""
        records = LayerScans.of_store(self.store.root)
        paths: set[str] = set()
        for digest in state.added:
            scan = records.load(digest)
            if scan is not None:
                paths.update(_file_paths(info for info, _ in scan.replay()))
                continue
            with self.store.open_blob(digest) as blob:
                paths.update(_file_paths(info for info, _ in iter_layer(blob)))
        return tuple(sorted(paths))

    def _build_stage(self, graph: StageGraph, stage: Stage) -> None:
        is_target = stage.index == graph.target.index
        job = _Job(stage, self.options.compression if is_target else "none")
        self.states[stage.index] = self._run_stage(job, graph.base_stage(stage))

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

    def _step(self, job: _Job, instruction: Instruction, *, cached: bool, text: str) -> None:
        label = job.label
        shown = f"{self.target_platform} {label}" if self.options.platform_in_steps else label
        message = f"[{shown}] {'CACHED ' if cached else ''}{text}"
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
            value = self.source.expand(stage.platform, self._global_env, stage.from_)
            return Platform.parse(value)
        return self.target_platform

    def _run_stage(self, job: _Job, base_stage: Stage | None) -> StageState:
        stage = job.stage
        where = self.source.where(stage.from_)
        image = self.source.expand(stage.base, self._global_env, stage.from_)
        platform = self._stage_platform(stage)
        if stage.index in self._replaced and stage.name is not None:
            self._step(job, stage.from_, cached=False, text=f"--build-context {stage.name}")
            named_state = self.named.lookup(stage.name, platform, where)
            assert named_state is not None  # replaced() named only stages with a context
            return named_state
        if base_stage is not None:
            parent = self.states[base_stage.index]
            state = replace(parent, args=())
        elif image.lower() == "scratch":
            # BuildKit's empty image: the default PATH and working directory "/"
            empty = ContainerConfig(env=(f"PATH={DEFAULT_PATH}",), working_dir="/")
            state = StageState(platform=platform, origin="scratch", config=empty)
        elif (named := self.named.lookup(image, platform, where)) is not None:
            state = named
        else:
            state = self._state_from_image(self.resolver.resolve(image, platform, where))
        self._step(job, stage.from_, cached=False, text=f"FROM {image}")
        triggers = state.config.on_build
        state = replace(state, config=replace(state.config, on_build=()))
        cmd_set = False
        draft: StateDraft | None = None  # metadata steps since the last layer step
        # the base's ONBUILD triggers run first, as in docker
        for instruction in chain((self._trigger(stage, t) for t in triggers), stage.instructions):
            if isinstance(instruction, Run | Copy | Add | Workdir):
                if draft is not None:
                    state, draft = draft.state(), None
                state = self._layer_instruction(job, state, instruction)
                continue
            if draft is None:
                draft = StateDraft(state)
            step = apply_metadata(draft, instruction, self._metadata_scope, cmd_set=cmd_set)
            cmd_set = step.cmd_set
            self._step(job, instruction, cached=False, text=step.text)
        return state if draft is None else draft.state()

    def _trigger(self, stage: Stage, text: str) -> Instruction:
        """An ONBUILD trigger of the base, parsed as an instruction on the FROM's line."""
        try:
            parsed = parse(f"FROM scratch\n{text}\n", self.dockerfile.filename)
        except DockerfileError as exc:
            raise BuildError(
                f"{self.source.where(stage.from_)}: the base's ONBUILD trigger {text!r} is "
                f"invalid: {exc.message}"
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

    # -- layer steps --------------------------------------------------------------------

    def _layer_instruction(self, job: _Job, state: StageState, ins: Instruction) -> StageState:
        if isinstance(ins, Run):
            step = run_step(
                ins,
                state,
                source=self.source,
                space=self.space,
                settings=self.run_settings,
                compression=job.compression,
            )
            return self._layer_step(job, state, ins, step)
        if isinstance(ins, Copy | Add):
            after = self._layer_step(job, state, ins, self._copy(job, state, ins))
            if len(after.layers) > len(state.layers):
                after = replace(after, added=(*after.added, after.layers[-1].descriptor.digest))
            return after
        if isinstance(ins, Workdir):
            return self._workdir(job, state, ins)
        raise BuildError(f"{self.source.where(ins)}: {ins.keyword} cannot be executed")

    def _layer_step(
        self, job: _Job, state: StageState, ins: Instruction, step: LayerStep
    ) -> StageState:
        """Look the step up in the cache; on a miss make its layer and record it."""
        key = cache_key(state.digest(), step.text, step.inputs)
        history = HistoryEntry(created_by=step.text, created=self.created)
        hit = self.cache.get(key)
        if hit is None and self.shared is not None and self.cache.enabled:
            hit = self.shared.get(key)
            if hit is not None and not self.store.has_blob(hit.descriptor.digest):
                with self._fetch_lock:
                    self._pending[hit.descriptor.digest] = key
        if hit is not None:
            self._step(job, ins, cached=True, text=step.text)
            self._results[key] = (job.stage.index, hit)
            return state.add_layer(hit, history)
        self._step(job, ins, cached=False, text=step.text)
        layer = step.make()
        if layer is None:
            return state.add_history(replace(history, empty_layer=True))
        self.cache.put(key, layer)
        self._results[key] = (job.stage.index, layer)
        return state.add_layer(layer, history)

    def _from_state(
        self, ref: str, state: StageState, where: str, *, by_index: bool = True
    ) -> StageState:
        """What ``--from=`` names: a stage built before this one, or an image."""
        found = None if ref.isdigit() and not by_index else self.dockerfile.stage(ref)
        if found is not None and found.index in self.states:
            return self.states[found.index]
        if found is not None:
            raise BuildError(f"{where}: stage {ref!r} has not been built before this step")
        named = self.named.lookup(ref, state.platform, where)
        if named is not None:
            return named
        image = self.resolver.resolve(ref, state.platform, where, role="copy-from")
        return self._state_from_image(image)

    def _mount_source(self, ref: str, state: StageState, where: str) -> StageState:
        """A mount's ``from=``: stages by name only, as BuildKit reads it."""
        return self._from_state(ref, state, where, by_index=False)

    def _copy(self, job: _Job, state: StageState, ins: FileInstruction) -> LayerStep:
        def from_source(ref: str) -> tuple[LayeredFS, str]:
            """``--from=``: a stage built before this one, or an image."""
            where = self.source.where(ins)
            src = self._from_state(ref, state, where)
            built = self.dockerfile.stage(ref) or self.named.lookup(ref, state.platform, where)
            return self.space.fs(src), src.digest() if built is not None else src.origin

        return copy_step(
            ins,
            state,
            source=self.source,
            space=self.space,
            from_source=from_source,
            compression=job.compression,
        )

    def _workdir(self, job: _Job, state: StageState, ins: Workdir) -> StageState:
        path = self.source.expand(ins.path, state.expansion_env(), ins)
        if not path:
            raise BuildError(f"{self.source.where(ins)}: WORKDIR needs a path")
        full = posixpath.normpath(posixpath.join(state.config.working_dir or "/", path))
        state = state.with_config(replace(state.config, working_dir=full))
        text = f"WORKDIR {full}"
        if full == "/":
            self._step(job, ins, cached=False, text=text)
            return state.add_history(HistoryEntry(text, self.created, empty_layer=True))

        def make() -> Layer | None:
            """The missing directories, made as the USER in effect (BuildKit's mkdir runs as
            that user) through the image's symlinks, existing parents left as they are."""
            fs = self.space.fs(state)
            target = fs.resolve(full)
            if fs.lookup(target) is not None:
                return None
            user = state.config.user
            owner = Owner() if not user else parse_chown(user, fs, where, what="USER")
            entries = [
                *parent_entries(fs, target, include_self=False),
                *created_dirs(fs, target, owner),
            ]
            return self.space.write_layer(entries, job.compression)

        where = self.source.where(ins)

        return self._layer_step(job, state, ins, LayerStep(text, [], make))


def _file_paths(members: Iterable[tarfile.TarInfo]) -> Iterator[str]:
    """The image paths of the regular files (and hard links) among a layer's members."""
    for info in members:
        if info.isreg() or info.islnk():
            yield "/" + info.name.removeprefix("./").rstrip("/")


def build_dockerfile(
    store: Store,
    options: BuildOptions,
    *,
    resolver: BaseResolver | None = None,
    reporter: Reporter = _NULL,
    runner: StepRunner | None = None,
    shared: SharedCache | None = None,
    cache: BuildCache | None = None,
) -> BuildResult:
    """Build ``options.context`` with its Dockerfile into ``store``; the image is untagged.

    Raises :class:`DockerfileError` for a bad Dockerfile, :class:`BuildError` naming the
    line for a failing step, :class:`NotFoundError` for a base that cannot be found.
    ``runner`` replaces the sandbox that runs RUN steps; ``shared`` is the cache shared
    with other machines; ``cache`` is the step cache, passed in when several builds (the
    platforms of one multi-platform build) share what they made.
    """
    context_dir = Path(options.context)
    dockerfile_path = options.dockerfile or context_dir / "Dockerfile"
    if not dockerfile_path.is_file() and options.dockerfile is None:
        alt = context_dir / "dockerfile"
        dockerfile_path = alt if alt.is_file() else dockerfile_path
    dockerfile = parse_file(dockerfile_path)
    source_digest = "sha256:" + hashlib.sha256(dockerfile_path.read_bytes()).hexdigest()
    hashes = ContentHashes.for_context(store.root, context_dir)
    context = BuildContext.load(context_dir, dockerfile_path, hashes)
    reap_orphans(store.root)  # what a killed build or run left: containers, mounts, state
    with store.session():
        try:
            result = Executor(
                store,
                dockerfile,
                context,
                options,
                resolver=resolver,
                reporter=reporter,
                runner=runner,
                shared=shared,
                cache=cache,
            ).build()
            return replace(result, dockerfile=dockerfile_path, dockerfile_digest=source_digest)
        except (OSError, subprocess.SubprocessError) as exc:
            if isinstance(exc, DistrolessError):
                raise
            raise BuildError(f"{dockerfile_path}: build failed: {exc}") from exc
        finally:
            hashes.save()


__all__ = [
    "ENTITLEMENTS",
    "BuildOptions",
    "BuildResult",
    "Executor",
    "build_dockerfile",
    "predefined_args",
]
