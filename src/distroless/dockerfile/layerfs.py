"""A read-only merged view over a stage's unpacked layer directories, without a mount.

``COPY --from``, ``WORKDIR``, ``USER`` and ``--chown`` need to look at what a stage's file
system holds.  The runtime's layer cache already keeps each layer unpacked in overlayfs
form (a whiteout is a 0/0 character device, an opaque directory carries the
``trusted.overlay.opaque`` attribute), so this view answers lookups by walking those
directories top-down, exactly as overlayfs would, and needs neither root nor a mount.
Layers are unpacked lazily: a stage nobody looks into costs nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from distroless.errors import BuildError
from distroless.rootpath import SymlinkLoopError, resolve_in_root
from distroless.runtime.unpack import is_opaque, is_whiteout


@dataclass(frozen=True)
class FsNode:
    """One path of the merged view: where its bytes are on the host, and its metadata."""

    path: str  # absolute path inside the image, "/" for the root
    host: Path
    st: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.st.st_mode)

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.st.st_mode)


def _split(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


class LayeredFS:
    """Lookups over layer directories (bottom-up order), produced on first use."""

    def __init__(self, layers: Callable[[], Sequence[Path]]) -> None:
        self._produce = layers
        self._layers: list[Path] | None = None

    @property
    def layers(self) -> list[Path]:
        if self._layers is None:
            self._layers = list(self._produce())
        return self._layers

    def _raw(self, parts: Sequence[str]) -> FsNode | None:
        """The topmost entry for ``parts`` with no symlink resolution at all."""
        if not parts:
            return FsNode("/", self.layers[-1] if self.layers else Path("/nonexistent"), _ROOT)
        for layer in reversed(self.layers):
            # a non-directory or whiteout at any parent in this layer hides everything below
            current = layer
            hidden = False
            for depth, part in enumerate(parts):
                current = current / part
                try:
                    st = os.lstat(current)
                except FileNotFoundError:
                    break
                if is_whiteout(st):
                    hidden = True
                    break
                if depth == len(parts) - 1:
                    return FsNode("/" + "/".join(parts), current, st)
                if not stat.S_ISDIR(st.st_mode):
                    hidden = True
                    break
            else:  # pragma: no cover - loop always returns or breaks
                pass
            if hidden:
                return None
            # an opaque parent directory in this layer hides the layers below it
            probe = layer
            for part in parts[:-1]:
                probe = probe / part
                if probe.is_dir() and not probe.is_symlink() and is_opaque(probe):
                    return None
        return None

    def node_at(self, rel: str) -> FsNode | None:
        """The entry at ``rel``, a root-relative path whose parents are already resolved."""
        return self._raw(_split(rel))

    def readlink(self, rel: str) -> str | None:
        """The target of the symlink at the (already resolved) root-relative ``rel``, if any.

        The :data:`~distroless.rootpath.ReadLink` view of the merged layers, for the one
        resolver in :mod:`distroless.rootpath`.
        """
        node = self.node_at(rel)
        if node is None or not node.is_symlink:
            return None
        return os.readlink(node.host)

    def resolve(self, path: str, *, follow_last: bool = True) -> str:
        """``path`` with symlinks resolved inside the image (never escaping its root)."""
        try:
            rel = resolve_in_root(path, self.readlink, follow_last=follow_last)
        except SymlinkLoopError:
            raise BuildError(f"too many symbolic links resolving {path!r}") from None
        return "/" + rel

    def lookup(self, path: str, *, follow: bool = True) -> FsNode | None:
        return self._raw(_split(self.resolve(path, follow_last=follow)))

    def listdir(self, path: str) -> list[str]:
        """Names in the merged directory ``path`` (already resolved), sorted."""
        parts = _split(path)
        names: dict[str, bool] = {}  # name -> visible
        for layer in reversed(self.layers):
            directory = layer.joinpath(*parts)
            try:
                st = os.lstat(directory)
            except FileNotFoundError:
                if self._blocked(layer, parts):
                    break
                continue
            if not stat.S_ISDIR(st.st_mode):
                break
            for entry in os.scandir(directory):
                if entry.name in names:
                    continue
                names[entry.name] = not is_whiteout(entry.stat(follow_symlinks=False))
            if is_opaque(directory):
                break
        return sorted(n for n, visible in names.items() if visible)

    @staticmethod
    def _blocked(layer: Path, parts: Sequence[str]) -> bool:
        current = layer
        for part in parts:
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                return False
            if is_whiteout(st) or not stat.S_ISDIR(st.st_mode):
                return True
        return False

    def read_text(self, path: str) -> str | None:
        node = self.lookup(path)
        if node is None or not node.is_file:
            return None
        try:
            return node.host.read_text("utf-8", errors="replace")
        except OSError:
            return None


_ROOT = os.stat_result((stat.S_IFDIR | 0o755, 0, 0, 2, 0, 0, 0, 0, 0, 0))
