"""Where ``pack`` reads: the source (a stored image or a directory) and the base to pack onto.

A stored source is read through :class:`~distroless.elf.FsViewAdapter` over its flattened
layers, never unpacked; a directory (the host by default) through
:class:`~distroless.elf.DirectoryView`.  Both resolve every name inside their root with
:mod:`distroless.rootpath`, so a hostile source's links cannot reach the host.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from distroless.elf import DirectoryView, FsViewAdapter, ImageView, LoaderConfig
from distroless.oci.models import Platform
from distroless.pack.image import Packed, pack_image
from distroless.pack.plan import parse_extras
from distroless.reporter import Reporter
from distroless.store import Store, StoredImage
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import from_store

if TYPE_CHECKING:
    from distroless.build import PackRequest
    from distroless.dockerfile.resolve_base import BaseBuilder

#: ``--base NAME`` for these names means the built-in base ``distroless/NAME``
BUILTIN_BASES = ("static", "base-nossl", "base", "cc", "python3")


def base_image_name(base: str) -> str | None:
    """The image ``--base`` names; None for ``scratch``."""
    if base == "scratch":
        return None
    if base in BUILTIN_BASES:
        return f"distroless/{base}:latest"
    return base


def _base(
    store: Store, base: str, platform: Platform, builder: BaseBuilder | None, reporter: Reporter
) -> tuple[StoredImage | None, frozenset[str]]:
    from distroless.dockerfile.resolve_base import BaseResolver

    name = base_image_name(base)
    if name is None:
        return None, frozenset()
    image = BaseResolver(store, base_builder=builder, reporter=reporter).resolve(
        name, platform, "--base"
    )
    fs = FileSystemView.from_image(from_store(store, name, platform))
    return image, frozenset(node.path for node in fs.nodes())


def pack_from_request(
    store: Store,
    request: PackRequest,
    *,
    base_builder: BaseBuilder | None = None,
    reporter: Reporter,
) -> Packed:
    """Resolve the request's source, platform and base, then :func:`pack_image`."""
    view: ImageView
    if request.source is not None:
        handle = from_store(store, request.source, request.platform)
        platform = Platform("linux", handle.config.architecture, handle.config.variant)
        view = FsViewAdapter(FileSystemView.from_image(handle))
        container = handle.config.config
        config = LoaderConfig.from_env(
            container.env,
            cwd=container.working_dir or "/",
            expected=(platform.architecture, platform.variant),
        )
    else:
        platform = request.platform or Platform.host()
        view = DirectoryView(request.source_root or Path("/"))
        config = LoaderConfig(expected=(platform.architecture, platform.variant))
    base, provided = _base(store, request.base, platform, base_builder, reporter)
    return pack_image(
        store,
        view,
        request.programs,
        platform=platform,
        base=base,
        provided=provided,
        extras=parse_extras(request.extras),
        config=config,
        source_date_epoch=request.source_date_epoch,
        reporter=reporter,
    )
