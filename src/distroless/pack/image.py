"""A pack plan into an image in the store, through the one assembly path.

The packed files go in one layer over the base (``scratch`` by default); the config's
entrypoint is the first program, so ``distroless run IMAGE --version`` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from distroless.assemble.image import LayerSource, assemble
from distroless.elf import ImageView, LoaderConfig
from distroless.oci.models import DEFAULT_PATH, ContainerConfig, Descriptor, Platform
from distroless.pack.dpkgdb import PackageDatabase
from distroless.pack.layer import pack_content
from distroless.pack.plan import plan_pack
from distroless.reporter import Reporter
from distroless.store import Store, StoredImage


@dataclass(frozen=True)
class Packed:
    """What a pack stored: the manifest, the packages carried, the warnings to show."""

    descriptor: Descriptor
    packages: tuple[str, ...]
    unowned: tuple[str, ...]
    warnings: tuple[str, ...]
    files: int


def _config(
    base: StoredImage | None, programs: Sequence[str], env: dict[str, str]
) -> ContainerConfig:
    config = base.config.config if base is not None else ContainerConfig()
    if not any(item.startswith("PATH=") for item in config.env):
        config = config.with_env(PATH=DEFAULT_PATH)
    if env:
        config = config.with_env(**env)
    return replace(config, entrypoint=(programs[0],), cmd=None)


def pack_image(
    store: Store,
    view: ImageView,
    programs: Sequence[str],
    *,
    platform: Platform,
    base: StoredImage | None = None,
    provided: frozenset[str] = frozenset(),
    extras: frozenset[str] = frozenset(),
    config: LoaderConfig | None = None,
    source_date_epoch: int = 0,
    reporter: Reporter | None = None,
    db: PackageDatabase | None = None,
) -> Packed:
    """Pack ``programs`` of ``view`` with their closure onto ``base``; the stored manifest.

    ``db``, ``view``'s package database, saves reading it again for each pack from one
    source.
    """
    plan = plan_pack(view, programs, config=config, extras=extras, provided=provided)
    with pack_content(plan, view, db) as content:
        names = sorted(content.packages)
        summary = f"distroless pack: {' '.join(programs)}"
        if extras:
            summary += f" (with {','.join(sorted(extras))})"
        source = LayerSource(summary, content.entries)
        desc = assemble(
            store,
            base=base,
            sources=[source],
            container=_config(base, programs, plan.env),
            platform=platform,
            source_date_epoch=source_date_epoch,
            reporter=reporter,
        )
    return Packed(
        desc,
        tuple(names),
        tuple(content.unowned),
        tuple(plan.warnings),
        len(plan.files),
    )
