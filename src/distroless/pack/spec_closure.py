"""``closure: true`` on a spec's file item: the file's ELF closure, taken from the host.

The file itself is copied by the spec's ``files`` layer as usual; this adds one layer with
the libraries (and loader) it needs, exactly as ``distroless pack`` would pick them on the
host, where a spec's ``src`` files are built.  ``$ORIGIN`` is the file's place on the
host, where it was linked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

from distroless.assemble.image import LayerSource
from distroless.elf import DirectoryView, LoaderConfig, links_on_path, resolve
from distroless.layers.entry import Entry
from distroless.oci.models import Platform
from distroless.pack.layer import pack_content
from distroless.pack.plan import plan_pack
from distroless.spec.model import FileItem


def closure_layer(
    items: Sequence[FileItem],
    stack: ExitStack,
    platform: Platform,
    host_root: Path = Path("/"),
) -> LayerSource:
    """One layer holding the closures of the ``closure: true`` items of ``items``.

    The copies the layer's entries read stay in ``stack`` until the caller closes it,
    after the layer is written.
    """
    chosen = [item for item in items if item.closure and item.src is not None]
    programs = [str(item.src) for item in chosen]
    config = LoaderConfig(expected=(platform.architecture, platform.variant))

    def entries() -> Iterator[Entry]:
        view = DirectoryView(host_root)
        plan = plan_pack(view, programs, config=config)
        for program in programs:
            # the program goes where the spec puts it, not where it sits on the host
            for link, _target in links_on_path(view, program):
                plan.files.pop(link, None)
            plan.files.pop(resolve(view, program), None)
        content = stack.enter_context(pack_content(plan, view))
        yield from content.entries()

    names = ", ".join(item.dst for item in chosen)
    return LayerSource(f"distroless spec: ELF closure of {names}", entries)
