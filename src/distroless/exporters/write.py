"""One ``--output``, written: the dispatch from an :class:`OutputSpec` to its exporter."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from distroless.exporters.archive import export_archive
from distroless.exporters.destination import open_destination
from distroless.exporters.filesystem import export_local, export_tar
from distroless.exporters.spec import OutputSpec
from distroless.oci.models import Descriptor
from distroless.store import Store


@contextlib.contextmanager
def _sink(output: OutputSpec, stdout: IO[bytes] | None) -> Iterator[IO[bytes]]:
    """Where an archive goes: ``stdout`` for ``dest=-``, else a file that appears whole
    or not at all (written in place when it is a device or a pipe)."""
    if output.to_stdout:
        if stdout is None:
            raise ValueError("dest=- needs a stdout stream")
        yield stdout
        stdout.flush()
        return
    with open_destination(output.path) as fh:
        yield fh


def export(
    store: Store,
    desc: Descriptor,
    output: OutputSpec,
    names: tuple[str, ...] = (),
    stdout: IO[bytes] | None = None,
) -> None:
    """Write image ``desc`` (a manifest or an index in ``store``) as ``output`` asks.

    ``names`` are the build's ``-t`` names, recorded by the archive types unless the
    output gives its own ``name=``; ``stdout`` is the stream ``dest=-`` writes to.  Outputs
    that push (:mod:`.registry`) or only store the image write nothing here.
    """
    if not output.writes_file:
        return
    if output.type == "local":
        export_local(store, str(desc.digest), output.path)
        return
    with _sink(output, stdout) as out:
        if output.type == "tar":
            scratch = store.state_dir("export") if output.to_stdout else _beside(output.path)
            export_tar(store, str(desc.digest), out, scratch=scratch)
        elif output.type in ("oci", "docker"):
            export_archive(store, desc, output.names or names, out, output.type)


def _beside(path: Path) -> Path:
    return path.absolute().parent
