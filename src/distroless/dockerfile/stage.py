"""The state of one stage while its instructions run: layers, config, history, ARG scope.

A :class:`StageState` is a value: every instruction returns a new one.  Its
:meth:`~StageState.digest` identifies the image the stage would be if it ended here (the
layers' diff_ids, the container config and the history), which is what the build cache
chains keys on: the key of a step is derived from its parent's digest.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from distroless.layers.layer import Layer
from distroless.oci.canonical import digest_of
from distroless.oci.models import ContainerConfig, HistoryEntry, Platform

DEFAULT_SHELL: tuple[str, ...] = ("/bin/sh", "-c")


@dataclass(frozen=True)
class StageState:
    """Everything an instruction may read or change, as an immutable value."""

    platform: Platform
    config: ContainerConfig = field(default_factory=ContainerConfig)
    layers: tuple[Layer, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    author: str | None = None
    #: ARG values visible in this stage (declared with ARG in it, or predefined+declared)
    args: tuple[tuple[str, str], ...] = ()
    #: ARGs given a value after the ENV of the same name: BuildKit keeps one list of
    #: variables for the steps, so the later of the two wins there (the config keeps ENV's)
    args_over_env: frozenset[str] = frozenset()
    #: identity of the base (image digest, "scratch" or a stage digest) for the cache
    origin: str = "scratch"
    #: digests of the layers COPY/ADD wrote in this stage and the stages it is built on
    #: (not part of :meth:`digest`: they are already counted among ``layers``)
    added: tuple[str, ...] = ()

    @property
    def shell(self) -> tuple[str, ...]:
        return self.config.shell or DEFAULT_SHELL

    @property
    def env(self) -> dict[str, str]:
        return self.config.env_map()

    @property
    def arg_map(self) -> dict[str, str]:
        return dict(self.args)

    def expansion_env(self) -> dict[str, str]:
        """What ``$var`` sees in an instruction: ARG values, overridden by an earlier ENV."""
        args = self.arg_map
        later = {k: args[k] for k in self.args_over_env if k in args}
        return {**args, **self.env, **later}

    def with_config(self, config: ContainerConfig) -> StageState:
        return replace(self, config=config)

    def add_history(self, entry: HistoryEntry) -> StageState:
        return replace(self, history=(*self.history, entry))

    def add_layer(self, layer: Layer, entry: HistoryEntry) -> StageState:
        return replace(self, layers=(*self.layers, layer), history=(*self.history, entry))

    def digest(self) -> str:
        """A digest of what the image would be now (not of how it was stored)."""
        doc = {
            "origin": self.origin,
            "platform": self.platform.to_dict(),
            "config": self.config.to_dict(),
            "diff_ids": [layer.diff_id for layer in self.layers],
            "history": [h.to_dict() for h in self.history],
            "author": self.author,
        }
        return digest_of(doc)[1]


def _size(items: Mapping[str, str]) -> int:
    return sum(len(k) + len(v) + 1 for k, v in items.items())


class StateDraft:
    """A :class:`StageState` edited in place by a run of metadata instructions.

    Each ``ENV``, ``LABEL`` or ``ARG`` made as a new value would copy the whole environment,
    labels or arguments, so a Dockerfile of n such lines would cost n² (20,000 ``ENV``
    lines took minutes).  A draft takes the state apart once, applies the run of
    instructions to dictionaries and sets, and is turned back into a state once, when a
    step that needs the value (a layer step, the end of the stage) comes.
    """

    def __init__(self, state: StageState) -> None:
        self.base = state
        self.config = state.config
        self.author = state.author
        self.env = state.env
        self.labels = dict(state.config.labels)
        self.args = state.arg_map
        self.args_over_env = set(state.args_over_env)
        self.ports = set(state.config.exposed_ports)
        self.volumes = set(state.config.volumes)
        self.history: list[HistoryEntry] = []
        self._env_changed = self._labels_changed = self._args_changed = False
        self._sets_changed = False
        #: characters of environment and labels, kept current for the size limit
        self.text_size = _size(self.env) + _size(self.labels)
        self.start_size = self.text_size

    def expansion_env(self) -> Mapping[str, str]:
        """What ``$var`` sees: ARG values, overridden by an earlier ENV (no copy is made)."""
        if not self.args_over_env:
            return ChainMap(self.env, self.args)
        later = {k: self.args[k] for k in self.args_over_env if k in self.args}
        return ChainMap(later, self.env, self.args)

    def set_env(self, key: str, value: str) -> None:
        old = self.env.get(key)
        self.text_size += len(value) - (len(old) if old is not None else -len(key) - 1)
        self.env[key] = value  # an existing variable keeps its place, as in docker
        self._env_changed = True
        if key in self.args_over_env:
            self.args_over_env.discard(key)
            self._args_changed = True

    def set_label(self, key: str, value: str) -> None:
        old = self.labels.get(key)
        self.text_size += len(value) - (len(old) if old is not None else -len(key) - 1)
        self.labels[key] = value
        self._labels_changed = True

    def set_arg(self, key: str, value: str) -> None:
        self.args.pop(key, None)  # a re-declared argument moves to the end
        self.args[key] = value
        self.args_over_env.add(key)
        self._args_changed = True

    def add_ports(self, ports: list[str]) -> None:
        self.ports.update(ports)
        self._sets_changed = True

    def add_volumes(self, paths: list[str]) -> None:
        self.volumes.update(paths)
        self._sets_changed = True

    def state(self) -> StageState:
        config = self.config
        changes: dict[str, object] = {}
        if self._env_changed:
            changes["env"] = tuple(f"{k}={v}" for k, v in self.env.items())
        if self._labels_changed:
            changes["labels"] = dict(self.labels)
        if self._sets_changed:
            changes["exposed_ports"] = tuple(sorted(self.ports))
            changes["volumes"] = tuple(sorted(self.volumes))
        if changes:
            config = replace(config, **changes)  # type: ignore[arg-type]
        return replace(
            self.base,
            config=config,
            author=self.author,
            args=tuple(self.args.items()) if self._args_changed else self.base.args,
            args_over_env=(
                frozenset(self.args_over_env) if self._args_changed else self.base.args_over_env
            ),
            history=(*self.base.history, *self.history),
        )
