"""Which stages a build needs, and in what order.

``docker build --target X`` builds only the stages X depends on: its ``FROM`` when that
names an earlier stage, every ``COPY --from=`` and every ``RUN --mount=...,from=`` that
names a stage (by name or index).  References are expanded first, as the builder will:
``FROM`` with the global ``ARG`` values only, the others with the stage's own ``ARG`` and
``ENV`` values (and the ``ENV`` inherited from a parent stage).  Anything that does not name
a stage is an image and is not part of the graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from distroless.dockerfile.ast import Arg, Copy, Dockerfile, Env, Instruction, Run, Stage
from distroless.dockerfile.substitution import expand
from distroless.errors import DockerfileError


@dataclass(frozen=True)
class StageRef:
    """A dependency edge: ``stage`` reads ``target`` because of the instruction on ``line``."""

    stage: int
    target: int
    line: int
    how: str  # "FROM", "COPY --from" or "RUN --mount"


@dataclass(frozen=True)
class StageGraph:
    """The stages needed for ``target``; ``order`` lists dependencies before dependants."""

    dockerfile: Dockerfile
    target: Stage
    order: tuple[Stage, ...]
    edges: tuple[StageRef, ...] = field(default=())
    bases: Mapping[int, str] = field(default_factory=dict)

    def dependencies(self, stage: Stage) -> tuple[Stage, ...]:
        """Stages that ``stage`` reads directly, in index order."""
        wanted = sorted({e.target for e in self.edges if e.stage == stage.index})
        return tuple(self.dockerfile.stages[i] for i in wanted)

    def base_stage(self, stage: Stage) -> Stage | None:
        """The stage this one is built ``FROM``, or None when it starts from an image."""
        for edge in self.edges:
            if edge.stage == stage.index and edge.how == "FROM":
                return self.dockerfile.stages[edge.target]
        return None


def global_arg_env(dockerfile: Dockerfile, build_args: Mapping[str, str]) -> dict[str, str]:
    """Values of the ARGs declared before the first FROM (build args override defaults)."""
    env: dict[str, str] = {}
    for instruction in dockerfile.global_args:
        for arg in instruction.args:
            if arg.name in build_args:
                env[arg.name] = build_args[arg.name]
            elif arg.default is not None:
                env[arg.name] = _expand(dockerfile, instruction, arg.default, env)
    return env


def _expand(
    dockerfile: Dockerfile, instruction: Instruction, text: str, env: dict[str, str]
) -> str:
    return expand(
        text,
        env,
        dockerfile.directives.escape,
        where=f"{dockerfile.filename}:{instruction.line}",
    )


def _named(dockerfile: Dockerfile, ref: str) -> Stage | None:
    """The stage named ``ref`` (names only, no indices); the last of a repeated name."""
    lowered = ref.lower()
    return next((s for s in reversed(dockerfile.stages) if s.name == lowered), None)


def build_graph(
    dockerfile: Dockerfile,
    target: str | None = None,
    build_args: Mapping[str, str] | None = None,
    replaced: frozenset[int] = frozenset(),
) -> StageGraph:
    """Compute the stages needed to build ``target`` (default: the last stage).

    A stage in ``replaced`` (by index: a ``--build-context`` of its name stands for it)
    reads nothing, so it has no dependencies of its own.

    Raises :class:`DockerfileError` for an unknown target, a ``--from`` index past the last
    stage, or a dependency cycle, naming the line at fault.
    """
    args = dict(build_args or {})
    stages = dockerfile.stages
    if target is None:
        target_stage = stages[-1]
    else:
        found = _named(dockerfile, target)
        if found is None:
            names = ", ".join(s.name for s in stages if s.name) or "none are named"
            raise DockerfileError(
                f"{dockerfile.filename}: target stage {target!r} could not be found "
                f"(stages: {names})"
            )
        target_stage = found

    global_env = global_arg_env(dockerfile, args)
    global_names = {a.name for g in dockerfile.global_args for a in g.args}
    edges: list[StageRef] = []
    bases: dict[int, str] = {}
    final_env: dict[int, dict[str, str]] = {}

    for stage in stages:
        base = _expand(dockerfile, stage.from_, stage.base, global_env)
        bases[stage.index] = base
        env: dict[str, str] = {}
        if stage.index in replaced:
            final_env[stage.index] = env
            continue
        parent = _named(dockerfile, base)
        if parent is not None and parent.index < stage.index:
            edges.append(StageRef(stage.index, parent.index, stage.line, "FROM"))
            env.update(final_env[parent.index])
        for instruction in stage.instructions:
            if isinstance(instruction, Arg):
                for arg in instruction.args:
                    if arg.name in args:
                        env[arg.name] = args[arg.name]
                    elif arg.default is not None:
                        env[arg.name] = _expand(dockerfile, instruction, arg.default, env)
                    elif arg.name in global_names and arg.name in global_env:
                        env[arg.name] = global_env[arg.name]
            elif isinstance(instruction, Env):
                for pair in instruction.pairs:
                    key = _expand(dockerfile, instruction, pair.key, env)
                    env[key] = _expand(dockerfile, instruction, pair.value, env)
            elif isinstance(instruction, Copy) and instruction.from_ is not None:
                ref = _expand(dockerfile, instruction, instruction.from_, env)
                _edge(
                    dockerfile,
                    stage,
                    instruction=instruction,
                    ref=ref,
                    how="COPY --from",
                    edges=edges,
                )
            elif isinstance(instruction, Run):
                for mount in instruction.mounts:
                    if mount.source_stage is not None:
                        ref = _expand(dockerfile, instruction, mount.source_stage, env)
                        _edge(
                            dockerfile,
                            stage,
                            instruction=instruction,
                            ref=ref,
                            how="RUN --mount",
                            edges=edges,
                            by_index=False,
                        )
        arg_only = _arg_only_names(stage)
        final_env[stage.index] = {k: v for k, v in env.items() if k not in arg_only}

    order = _order(dockerfile, target_stage, edges)
    return StageGraph(dockerfile, target_stage, order, tuple(edges), bases)


def _arg_only_names(stage: Stage) -> set[str]:
    """Names whose last setter in ``stage`` is an ARG (ARGs are not inherited; ENVs are).

    One pass over the stage: asking instruction by instruction for every name was
    quadratic in the length of the stage.
    """
    last: dict[str, bool] = {}  # name -> set last by an ARG
    for instruction in stage.instructions:
        if isinstance(instruction, Env):
            for pair in instruction.pairs:
                last[pair.key] = False
        elif isinstance(instruction, Arg):
            for arg in instruction.args:
                last[arg.name] = True
    return {name for name, by_arg in last.items() if by_arg}


def _edge(
    dockerfile: Dockerfile,
    stage: Stage,
    *,
    instruction: Instruction,
    ref: str,
    how: str,
    edges: list[StageRef],
    by_index: bool = True,
) -> None:
    """Record that ``stage`` needs the stage ``ref`` names (none when it names an image).

    ``COPY --from`` takes a stage index too; a mount's ``from=`` names stages by name
    only, as BuildKit reads it (``from=0`` is an image called ``0`` there).
    """
    found = _named(dockerfile, ref)
    if found is None and ref.isdigit() and by_index:
        index = int(ref)
        if index >= len(dockerfile.stages):
            raise DockerfileError(
                f"{dockerfile.filename}:{instruction.line}: {how}={ref} names stage {index}, "
                f"but the Dockerfile has only {len(dockerfile.stages)} stage(s)"
            )
        found = dockerfile.stages[index]
    if found is None:
        return  # an image, not a stage
    if found.index == stage.index:
        raise DockerfileError(
            f"{dockerfile.filename}:{instruction.line}: {how}={ref} refers to its own stage"
        )
    edges.append(StageRef(stage.index, found.index, instruction.line, how))


def _order(dockerfile: Dockerfile, target: Stage, edges: list[StageRef]) -> tuple[Stage, ...]:
    """Depth-first post-order from ``target``: dependencies (by index) before dependants."""
    out: list[int] = []
    state: dict[int, str] = {}
    deps: dict[int, list[int]] = {}
    for edge in edges:
        deps.setdefault(edge.stage, []).append(edge.target)
    # Iterative, so a long chain of stages cannot exhaust Python's recursion limit.
    path: list[int] = [target.index]
    pending: list[list[int]] = [sorted(set(deps.get(target.index, ())), reverse=True)]
    state[target.index] = "active"
    while path:
        if not pending[-1]:
            index = path.pop()
            pending.pop()
            state[index] = "done"
            out.append(index)
            continue
        dep = pending[-1].pop()
        if state.get(dep) == "done":
            continue
        if state.get(dep) == "active":
            cycle = [*path[path.index(dep) :], dep]
            names = " -> ".join(dockerfile.stages[i].name or str(i) for i in cycle)
            line = next(e.line for e in edges if e.stage == path[-1] and e.target == dep)
            raise DockerfileError(
                f"{dockerfile.filename}:{line}: circular dependency between stages: {names}"
            )
        state[dep] = "active"
        path.append(dep)
        pending.append(sorted(set(deps.get(dep, ())), reverse=True))
    return tuple(dockerfile.stages[i] for i in out)
