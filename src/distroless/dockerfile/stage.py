"""The state of one stage while its instructions run: layers, config, history, ARG scope.

A :class:`StageState` is a value: every instruction returns a new one.  Its
:meth:`~StageState.digest` identifies the image the stage would be if it ended here (the
layers' diff_ids, the container config and the history), which is what the build cache
chains keys on: the key of a step is derived from its parent's digest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

from distroless.layers.layer import Layer
from distroless.oci.models import ContainerConfig, HistoryEntry, Platform

DEFAULT_SHELL: tuple[str, ...] = ("/bin/sh", "-c")

#: A layer of the stage: the project's one layer type, under the name the executor uses.
StateLayer = Layer


@dataclass(frozen=True)
class StageState:
    """Everything an instruction may read or change, as an immutable value."""

    platform: Platform
    config: ContainerConfig = field(default_factory=ContainerConfig)
    layers: tuple[StateLayer, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    author: str | None = None
    #: ARG values visible in this stage (declared with ARG in it, or predefined+declared)
    args: tuple[tuple[str, str], ...] = ()
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
        """What ``$var`` sees in an instruction: ARG values, overridden by ENV (docker)."""
        return {**self.arg_map, **self.env}

    def with_arg(self, name: str, value: str) -> StageState:
        kept = tuple((k, v) for k, v in self.args if k != name)
        return replace(self, args=(*kept, (name, value)))

    def with_config(self, config: ContainerConfig) -> StageState:
        return replace(self, config=config)

    def add_history(self, entry: HistoryEntry) -> StageState:
        return replace(self, history=(*self.history, entry))

    def add_layer(self, layer: StateLayer, entry: HistoryEntry) -> StageState:
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
        data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        return "sha256:" + hashlib.sha256(data).hexdigest()
