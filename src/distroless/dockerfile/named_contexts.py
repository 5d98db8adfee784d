"""``build --build-context NAME=DIR|NAME=docker-image://REF``: contexts a Dockerfile names.

As with buildx, ``FROM NAME``, ``COPY --from=NAME`` and ``RUN --mount=...,from=NAME`` see
the named context instead of an image called NAME: ``docker-image://REF`` is that image
(found as ``FROM`` finds any), a directory is a stage whose one layer holds the
directory's files, owned by root as files of the build context are, links kept as links
(nothing under the directory is followed).  A name is matched as written or as the image
reference it normalises to (``alpine`` and ``docker.io/library/alpine:latest`` are one
name).  A context named like a stage replaces that stage, as in BuildKit: the stage's own
instructions are not run, and everything that names the stage gets the context.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from distroless.dockerfile.ast import Dockerfile
from distroless.dockerfile.stage import StageState
from distroless.dockerfile.workspace import Workspace
from distroless.errors import DistrolessError
from distroless.layers.compress import Compression
from distroless.layers.fromdir import entries_from_directory
from distroless.oci.models import DEFAULT_PATH, ContainerConfig, HistoryEntry, Platform
from distroless.oci.reference import Reference
from distroless.store import StoredImage

DOCKER_IMAGE = "docker-image://"

#: (image reference, platform, FILE:LINE) -> the stored image
Resolve = Callable[[str, Platform, str], StoredImage]


def _key(name: str) -> str:
    try:
        return str(Reference.parse(name))
    except DistrolessError:
        return name.lower()


class NamedContexts:
    """The build's named contexts, each made into a stage state on first use."""

    def __init__(
        self,
        contexts: Mapping[str, str],
        *,
        space: Workspace,
        resolve: Resolve,
        from_image: Callable[[StoredImage], StageState],
        compression: Compression,
    ) -> None:
        self._contexts = {_key(name): value for name, value in contexts.items()}
        self._names = dict(contexts)
        self._space = space
        self._resolve = resolve
        self._from_image = from_image
        self._compression = compression
        self._lock = threading.Lock()
        self._made: dict[tuple[str, str], StageState] = {}

    def replaced(self, dockerfile: Dockerfile) -> frozenset[int]:
        """The stages a context of the same name replaces (BuildKit: the stage's base is
        the context and none of its instructions runs)."""
        return frozenset(
            stage.index
            for stage in dockerfile.stages
            if stage.name is not None and _key(stage.name) in self._contexts
        )

    def lookup(self, name: str, platform: Platform, where: str) -> StageState | None:
        """The state ``name`` stands for, or None when no context has that name."""
        value = self._contexts.get(_key(name))
        if value is None:
            return None
        with self._lock:
            key = (value, str(platform))
            if key not in self._made:
                self._made[key] = self._make(value, platform, where)
            return self._made[key]

    def _make(self, value: str, platform: Platform, where: str) -> StageState:
        if value.startswith(DOCKER_IMAGE):
            return self._from_image(self._resolve(value[len(DOCKER_IMAGE) :], platform, where))
        entries = entries_from_directory(Path(value), "/", uid=0, gid=0, include_root=False)
        layer = self._space.write_layer(entries, self._compression)
        empty = ContainerConfig(env=(f"PATH={DEFAULT_PATH}",), working_dir="/")
        state = StageState(platform=platform, origin="scratch", config=empty)
        return state.add_layer(layer, HistoryEntry(created_by=f"context {value}"))
