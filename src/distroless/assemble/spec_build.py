"""``build --spec``: turn a validated :class:`ImageSpec` into an image in the store.

The spec's base comes from a lookup passed in (the store by default; the build facade
passes the one ``FROM`` uses, which also builds built-in bases and pulls); packages and
Python wheels come from providers passed in, so this module knows nothing of archives or
indexes; files become one layer.  Several ``archs`` give one manifest each under an index.
"""

from __future__ import annotations

import contextlib
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

#: (spec, Debian architecture, base or None) -> the layers to add
PackageLayers = Callable[[ImageSpec, str, StoredImage | None], Sequence[LayerSource]]
#: (image name, platform) -> the stored image
BaseLookup = Callable[[str, Platform], StoredImage]

#: Entrypoints of debug bases: a shell, which would take a spec's ``cmd`` as its arguments.
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "busybox"})


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
        exposed_ports=tuple(sorted({*config.exposed_ports, *spec.expose})),
        volumes=tuple(sorted({*config.volumes, *spec.volumes})),
        stop_signal=spec.stopsignal or config.stop_signal,
        healthcheck=(
            {k: list(v) if isinstance(v, tuple) else v for k, v in spec.healthcheck}
            if spec.healthcheck is not None
            else config.healthcheck
        ),
        shell=config.shell,
        extra=config.extra,
    )


def debug_shell_warning(spec: ImageSpec, base: StoredImage | None) -> str | None:
    """A warning when the spec's ``cmd`` would become arguments of the base's debug shell.

    A ``:debug`` base starts ``/busybox/sh``; a spec that sets ``cmd`` but no
    ``entrypoint`` then runs the shell with the command as its arguments, which is rarely
    what was meant.
    """
    if base is None or spec.cmd is None or spec.entrypoint is not None:
        return None
    entrypoint = base.config.config.entrypoint or ()
    if not entrypoint or entrypoint[0].rsplit("/", 1)[-1] not in _SHELLS:
        return None
    return (
        f"{spec.path.name}: the base {spec.base} starts the shell {entrypoint[0]} and the spec "
        f"sets only cmd, so the shell gets {list(spec.cmd)} as its arguments; set entrypoint "
        "to run the program itself"
    )


def _store_lookup(store: Store) -> BaseLookup:
    def lookup(name: str, platform: Platform) -> StoredImage:
        return store.load_image(name, platform)

    return lookup


def platforms_of(spec: ImageSpec, override: Sequence[Platform] = ()) -> list[Platform]:
    if override:
        return list(override)
    if spec.archs:
        return [Platform.of_debian(arch) for arch in spec.archs]
    return [Platform.host()]


def build_spec(
    store: Store,
    spec: ImageSpec,
    *,
    package_layers: PackageLayers | None = None,
    python_layers: PackageLayers | None = None,
    base_lookup: BaseLookup | None = None,
    platforms: Sequence[Platform] = (),
    source_date_epoch: int = 0,
    reporter: Reporter | None = None,
    cache: KeyedLayerCache | None = None,
) -> Descriptor:
    """Build every platform of ``spec``; returns a manifest (one platform) or an index.

    ``cache`` is where made layers are found again (the store's, by default)."""
    report = reporter or NullReporter()
    if spec.packages and package_layers is None:
        raise InputError(f"{spec.path}: packages are listed but no package source is available")
    if spec.python is not None and python_layers is None:
        raise InputError(f"{spec.path}: python dependencies need a wheel source")
    lookup = base_lookup or _store_lookup(store)
    manifests = []
    cache = cache or KeyedLayerCache(store)
    warned = False
    with contextlib.ExitStack() as stack:  # what the layers' entries hold until written
        for platform in platforms_of(spec, platforms):
            base = None if spec.base == "scratch" else lookup(spec.base, platform)
            warning = debug_shell_warning(spec, base)
            if warning is not None and not warned:
                report.event("warning", message=warning)
                warned = True
            sources: list[LayerSource] = []
            if spec.packages and package_layers is not None:
                sources.extend(package_layers(spec, platform.debian_arch(), base))
            if spec.python is not None and python_layers is not None:
                sources.extend(python_layers(spec, platform.architecture, base))
            if spec.files:
                sources.append(
                    LayerSource("distroless spec: files", lambda: file_entries(spec.files))
                )
            if any(item.closure for item in spec.files):
                from distroless.pack.spec_closure import closure_layer

                sources.append(closure_layer(spec.files, stack, platform))
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
