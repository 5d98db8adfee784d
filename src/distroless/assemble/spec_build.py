"""``build --spec``: turn a validated :class:`ImageSpec` into an image in the store.

The spec's base comes from the store; packages come from a provider (the Debian side)
passed in, so this module knows nothing of archives; files become one layer.  Several
``archs`` give one manifest each under an index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from distroless.assemble.cache import KeyedLayerCache
from distroless.assemble.image import LayerSource, assemble, assemble_index
from distroless.errors import InputError
from distroless.layers.entry import Entry
from distroless.layers.fromdir import entries_from_directory
from distroless.oci.models import ContainerConfig, Descriptor, Platform
from distroless.reporter import NullReporter, Reporter
from distroless.spec.model import FileItem, ImageSpec
from distroless.store import Store, StoredImage
from distroless.store.store import host_platform_default

PackageLayers = Callable[[ImageSpec, str], Sequence[LayerSource]]


def file_entries(items: Iterable[FileItem]) -> Iterator[Entry]:
    """Entries for the spec's ``files:`` list, in the order given (the writer sorts)."""
    for item in items:
        if item.src is not None:
            yield from entries_from_directory(
                item.src, item.dst, uid=item.uid, gid=item.gid, mode=item.mode
            )
        elif item.content is not None:
            data = item.content.encode()
            yield Entry.file(item.dst, data, item.mode or 0o644, item.uid, item.gid)
        elif item.symlink is not None:
            yield Entry.symlink(item.dst, item.symlink, item.uid, item.gid)
        else:
            yield Entry.directory(item.dst, item.mode or 0o755, item.uid, item.gid)


def container_config(spec: ImageSpec, base: StoredImage | None) -> ContainerConfig:
    """The base's config with the spec's settings laid over it, as a Dockerfile would."""
    config = base.config.config if base is not None else ContainerConfig()
    if spec.env:
        config = config.with_env(**dict(spec.env))
    labels = {**config.labels, **dict(spec.labels)}
    entrypoint = spec.entrypoint if spec.entrypoint is not None else config.entrypoint
    # as in docker, a new entrypoint resets an inherited cmd
    cmd = (
        spec.cmd if spec.cmd is not None else (None if spec.entrypoint is not None else config.cmd)
    )
    return ContainerConfig(
        user=spec.user or config.user,
        env=config.env,
        entrypoint=entrypoint,
        cmd=cmd,
        working_dir=spec.workdir or config.working_dir,
        labels=labels,
        exposed_ports=config.exposed_ports,
        volumes=config.volumes,
        stop_signal=config.stop_signal,
        healthcheck=config.healthcheck,
        shell=config.shell,
        extra=config.extra,
    )


def platforms_of(spec: ImageSpec, override: Sequence[Platform] = ()) -> list[Platform]:
    if override:
        return list(override)
    if spec.archs:
        return [Platform("linux", arch) for arch in spec.archs]
    return [host_platform_default()]


def build_spec(
    store: Store,
    spec: ImageSpec,
    *,
    package_layers: PackageLayers | None = None,
    platforms: Sequence[Platform] = (),
    source_date_epoch: int = 0,
    reporter: Reporter | None = None,
) -> Descriptor:
    """Build every platform of ``spec``; returns a manifest (one platform) or an index."""
    report = reporter or NullReporter()
    if spec.packages and package_layers is None:
        raise InputError(f"{spec.path}: packages are listed but no package source is available")
    manifests = []
    cache = KeyedLayerCache(store)
    for platform in platforms_of(spec, platforms):
        base = None if spec.base == "scratch" else store.load_image(spec.base, platform)
        sources: list[LayerSource] = []
        if spec.packages and package_layers is not None:
            sources.extend(package_layers(spec, platform.architecture))
        if spec.files:
            sources.append(LayerSource("distroless spec: files", lambda: file_entries(spec.files)))
        manifests.append(
            assemble(
                store,
                base=base,
                sources=sources,
                container=container_config(spec, base),
                platform=platform,
                source_date_epoch=source_date_epoch,
                annotations=dict(spec.annotations),
                cache=cache,
                reporter=report,
            )
        )
        report.event("platform-built", platform=str(platform), digest=manifests[-1].digest)
    if len(manifests) == 1:
        return manifests[0]
    return assemble_index(store, manifests, dict(spec.annotations))
