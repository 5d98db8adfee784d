"""``RUN --mount=type=bind,from=STAGE_OR_IMAGE``: another stage's files, as the step sees them.

BuildKit mounts the named stage's (or image's) root file system and shows ``source``
inside it at ``target``.  Here the stage's layers are applied, bottom to top, by the
hardened applier into a private directory of the build's scratch space, once per stage
result for read-only mounts (a stage mounted by several steps is flattened once) and
afresh for ``rw`` ones, whose writes are thrown away with the copy.  ``source`` is
resolved inside that root by :func:`distroless.rootpath.host_path_in_root`, so a link in
the stage to ``/etc/shadow`` names the stage's own file, never the host's.  Device nodes
are not created: the view lives on the host, and no step needs a device from a mount.
"""

from __future__ import annotations

import tarfile
import threading
from pathlib import Path

from distroless.dockerfile.stage import StageState
from distroless.dockerfile.workspace import Workspace
from distroless.errors import BuildError
from distroless.layers.apply import LayerApplier
from distroless.rootpath import SymlinkLoopError, host_path_in_root

_lock = threading.Lock()


class _NoDevices(LayerApplier):
    def make_device(self, name: str, path: str, member: tarfile.TarInfo) -> None:
        return


def _flatten(space: Workspace, state: StageState) -> Path:
    if space.fetch is not None:
        space.fetch(state.layers)
    root = space.temp_dir() / "root"
    root.mkdir()
    with space.store.session():
        for layer in state.layers:
            with space.store.open_blob(layer.descriptor.digest) as fh:
                _NoDevices(root, preserve_owner=True).run(fh, None, "")
    return root


def _root_of(space: Workspace, state: StageState, rw: bool) -> Path:
    if rw:
        return _flatten(space, state)
    with _lock:  # stages run in parallel: one flattening per stage result
        digest = state.digest()
        if digest not in space.stage_roots:
            space.stage_roots[digest] = _flatten(space, state)
        return space.stage_roots[digest]


def stage_view(space: Workspace, state: StageState, source: str, rw: bool, where: str) -> Path:
    """The host path a bind mount of ``source`` in ``state``'s files shows."""
    root = _root_of(space, state, rw)
    try:
        path = host_path_in_root(root, source)
    except SymlinkLoopError:
        raise BuildError(f"{where}: the mount source {source!r} is a symlink loop") from None
    if not path.exists():
        raise BuildError(f"{where}: the mount source {source!r} does not exist in that stage")
    return path
