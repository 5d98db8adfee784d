"""What the steps of one build share, handed to the modules that make layers.

:class:`SourceFile` is the Dockerfile as messages and ``$var`` expansion need it;
:class:`Workspace` is the store, the build context and the scratch space the steps use;
:class:`LayerStep` is what COPY, ADD and RUN hand back to the executor: how the step is
named in the history and the cache key, and how to make its layer on a cache miss.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from distroless.assemble.image import store_layer
from distroless.dockerfile.ast import Instruction
from distroless.dockerfile.context import BuildContext
from distroless.dockerfile.layerfs import LayeredFS
from distroless.dockerfile.stage import StageState
from distroless.dockerfile.substitution import expand, expand_words
from distroless.layers.compress import Compression
from distroless.layers.entry import Entry
from distroless.layers.layer import Layer
from distroless.reporter import Reporter
from distroless.runtime.rootfs import LayerCache
from distroless.store import Store


@dataclass(frozen=True)
class SourceFile:
    """The Dockerfile being built: its name (for ``FILE:LINE`` messages) and escape character."""

    filename: str
    escape: str

    def where(self, instruction: Instruction) -> str:
        return f"{self.filename}:{instruction.line}"

    def expand(self, text: str, env: Mapping[str, str], instruction: Instruction) -> str:
        return expand(text, env, self.escape, where=self.where(instruction))

    def expand_words(
        self, text: str, env: Mapping[str, str], instruction: Instruction
    ) -> list[str]:
        return expand_words(text, env, self.escape, where=self.where(instruction))


@dataclass(frozen=True)
class LayerStep:
    """A step that may add a layer, before the build cache is asked.

    ``text`` is its history entry; ``text`` and ``inputs`` make its cache key (with the
    parent state's digest), so anything that can change the layer must be in one of them.
    ``make`` runs only on a miss and returns None when the step changes nothing.
    """

    text: str
    inputs: Sequence[str]
    make: Callable[[], Layer | None]


@dataclass(frozen=True)
class Workspace:
    """The store, the context and the scratch space of one build.

    ``scratch`` holds the temporary files of steps (downloads, unpacked archives, RUN logs),
    not the store's ``tmp/``, which ``prune`` empties file by file; what ``stack`` holds is
    removed when the build ends.
    """

    store: Store
    context: BuildContext
    layer_cache: LayerCache
    scratch: Path
    stack: contextlib.ExitStack
    reporter: Reporter
    source_date_epoch: int
    #: brings layers the store lacks into it (those a shared cache hit named but did not
    #: download); None when every layer of every state is stored
    fetch: Callable[[Sequence[Layer]], None] | None = None
    #: flattened stage roots that ``RUN --mount=...,from=`` shows read-only, by stage digest
    stage_roots: dict[str, Path] = field(default_factory=dict)

    def lowers(self, state: StageState) -> list[Path]:
        """The stage's layers unpacked, bottom up."""
        if self.fetch is not None:
            self.fetch(state.layers)
        with self.store.session():
            digests = [layer.descriptor.digest for layer in state.layers]
            return self.layer_cache.ensure_all(digests, self.store, self.reporter)

    def fs(self, state: StageState) -> LayeredFS:
        """A read-only view of the stage's files; its layers unpack on the first look."""
        return LayeredFS(lambda: self.lowers(state))

    def temp_dir(self) -> Path:
        """A private directory that lives until the build ends."""
        return Path(self.stack.enter_context(tempfile.TemporaryDirectory(dir=self.scratch)))

    def write_layer(self, entries: Iterable[Entry], compression: Compression) -> Layer:
        return store_layer(
            self.store,
            entries,
            compression=compression,
            source_date_epoch=self.source_date_epoch,
        )
