"""Building the base images: recipe + lock -> layers -> one index per tag -> store names.

Per architecture a base is its package layers (one per .deb, in recipe order, keyed by
the .deb's sha256 so ``base`` reuses the layers of ``static``), then one generated-files
layer.  The four tags share those layers; the debug tags add one busybox layer.  With
``squash`` each tag is a single layer instead.  Every layer has an input-derived cache
key, so a rebuild with everything cached reads no package at all.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from distroless.assemble.cache import KeyedLayerCache, SharedKeyedCache, missing_layers
from distroless.assemble.image import (
    LayerSource,
    add_layer,
    assemble,
    assemble_index,
    layer_cache_key,
)
from distroless.assemble.packages import package_layer
from distroless.bases.busybox import busybox_entries
from distroless.bases.generated import GeneratedFiles
from distroless.bases.locks import locked_packages, read_lock
from distroless.bases.recipe import (
    BUSYBOX_PACKAGE,
    CA_PACKAGE,
    DEFAULT_DISTRO,
    TAGS,
    Recipe,
    Recipes,
    expand,
)
from distroless.bases.reference import PUBLISHED_NAMESPACE, PUBLISHED_REGISTRY, BaseRef
from distroless.debian.lockfile import LockedPackage, Lockfile
from distroless.debian.sources import distro as distro_info
from distroless.errors import UsageError
from distroless.layers.entry import Entry
from distroless.oci.models import ContainerConfig, Descriptor, Platform
from distroless.reporter import NullReporter, Reporter, Task
from distroless.store import Store

#: part of every generated layer's cache key: bump it when what the layer holds changes
GENERATED_VERSION = "2"
GENERATED_PREFIX = "bases-generated:"
NONROOT = "65532"
BUSYBOX_PATH = "/busybox"
#: At most this many layers are made at once: the decompressor and the compressor release
#: the interpreter lock, so each thread keeps a core busy.
MAX_LAYER_WORKERS = 4
#: Where the published images live; ``FROM`` lines naming it resolve to these local
#: builds, so they are stored under it too.
PUBLISHED = f"{PUBLISHED_REGISTRY}/{PUBLISHED_NAMESPACE}"


class Debs(Protocol):
    """What the builder needs from the Debian side: a ``PackageSource``, or a fake in tests."""

    def deb_paths(self, packages: Sequence[LockedPackage]) -> Mapping[str, Path]:
        """Package name -> verified .deb in the cache."""
        ...

    def planned_path(self, package: LockedPackage) -> Path:
        """Where :meth:`deb_paths` puts ``package``'s .deb, fetched or not."""
        ...


@dataclass(frozen=True)
class TagConfig:
    """How one tag differs from ``latest``."""

    tag: str
    nonroot: bool
    debug: bool


TAG_CONFIGS = {
    "latest": TagConfig("latest", nonroot=False, debug=False),
    "nonroot": TagConfig("nonroot", nonroot=True, debug=False),
    "debug": TagConfig("debug", nonroot=False, debug=True),
    "debug-nonroot": TagConfig("debug-nonroot", nonroot=True, debug=True),
}


@dataclass(frozen=True)
class BuiltBase:
    """One tag of one base: its index (or manifest) and the names it is stored under.

    With layers taken from a shared cache and not fetched yet (``deferred``) the image is
    not complete, and ``refs`` are the names it gets once it is: nothing tags it before.
    """

    name: str
    tag: str
    distro: str
    descriptor: Descriptor
    refs: tuple[str, ...]
    deferred: frozenset[str] = frozenset()  # digests of its layers not in the store yet


def store_names(name: str, tag: str, distro: str) -> tuple[str, ...]:
    """``distroless/<name>:<tag>`` and the published names (unsuffixed for the default)."""
    if distro == DEFAULT_DISTRO:
        return (
            f"distroless/{name}:{tag}",
            f"{PUBLISHED}/{name}-{distro}:{tag}",
            f"{PUBLISHED}/{name}:{tag}",
        )
    return (f"distroless/{name}-{distro}:{tag}", f"{PUBLISHED}/{name}-{distro}:{tag}")


def container_config(
    recipe: Recipe, tag: TagConfig, fill: Callable[[str], str] = lambda text: text
) -> ContainerConfig:
    """The config of one tag; ``fill`` expands the recipe's placeholders for one arch."""
    env = {key: fill(value) for key, value in recipe.env}
    entrypoint = recipe.entrypoint
    cmd = recipe.cmd
    if tag.debug:
        env["PATH"] = env.get("PATH", "") + ":" + BUSYBOX_PATH
        entrypoint, cmd = (f"{BUSYBOX_PATH}/sh",), None
    return ContainerConfig(
        user=NONROOT if tag.nonroot else "0",
        env=tuple(f"{k}={v}" for k, v in env.items()),
        entrypoint=entrypoint,
        cmd=cmd,
        working_dir="/home/nonroot" if tag.nonroot else "/",
    )


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _squashed(sources: Sequence[LayerSource]) -> Callable[[], Iterator[Entry]]:
    """All sources' entries as one file system, later sources on top."""

    def entries() -> Iterator[Entry]:
        merged: dict[str, Entry] = {}
        for source in sources:
            for entry in source.entries():
                merged[entry.path] = entry
        yield from merged.values()

    return entries


class BaseBuilder:
    """Builds bases of one distro into a store; reuse it for several names and tags."""

    def __init__(
        self,
        store: Store,
        debs: Debs,
        lock: Lockfile,
        *,
        squash: bool = False,
        source_date_epoch: int = 0,
        reporter: Reporter | None = None,
        shared: SharedKeyedCache | None = None,
    ) -> None:
        self.store = store
        self.debs = debs
        self.lock = lock
        self.distro = lock.distro
        self.squash = squash
        self.source_date_epoch = source_date_epoch
        self.reporter = reporter or NullReporter()
        self._paths: dict[tuple[str, str], Path] = {}
        self._layers: dict[tuple[str, str], LayerSource] = {}
        # one read of index.json for all layers and tags: a warm rebuild of every base and
        # tag then costs milliseconds
        self._cache = shared or KeyedLayerCache(store)
        # with a shared cache the .debs are fetched only once a layer is to be made (a
        # runner whose layers all come from the cache downloads none), and a layer may be
        # taken without its bytes (arch -> packages not fetched yet)
        self._shared = shared is not None
        self._unfetched: dict[str, list[LockedPackage]] = {}
        self._refs = {name: desc.digest for name, desc in store.refs()}
        # layers :meth:`make_layers` has just made: found by key once, they are not news
        self._fresh: set[str] = set()
        # the entries of the package layers made so far (their contents stay readable)
        self._made: dict[Path, list[Entry]] = {}

    def _prepare(self, recipe: Recipe, arch: str, debug: bool) -> None:
        """Fetch (or find cached) every .deb this base needs, once per arch."""
        names = list(recipe.packages) + ([BUSYBOX_PACKAGE] if debug else [])
        wanted = [n for n in names if (n, arch) not in self._paths]
        if not wanted:
            return
        packages = locked_packages(self.lock, arch, tuple(wanted))
        if self._shared:
            self._unfetched.setdefault(arch, []).extend(packages)
            paths: Mapping[str, Path] = {p.name: self.debs.planned_path(p) for p in packages}
        else:
            paths = self.debs.deb_paths(packages)
        for name, path in paths.items():
            self._paths[(name, arch)] = path
        merged_usr = distro_info(self.distro).merged_usr
        for package in packages:
            if package.name not in (CA_PACKAGE, BUSYBOX_PACKAGE):
                deb = self._paths[(package.name, arch)]
                layer = package_layer(package, deb, merged_usr=merged_usr)
                self._layers[(package.name, arch)] = replace(
                    layer, entries=self._noted(deb, layer.entries)
                )

    def _noted(
        self, deb: Path, entries: Callable[[], Iterable[Entry]]
    ) -> Callable[[], Iterator[Entry]]:
        """``entries``, kept once all were made: the loader cache reads them again."""

        def produce() -> Iterator[Entry]:
            kept = []
            for entry in entries():
                kept.append(entry)
                yield entry
            self._made[deb] = kept

        return produce

    def _generated(self, recipe: Recipe, arch: str) -> LayerSource:
        ca = locked_packages(self.lock, arch, (CA_PACKAGE,))[0] if recipe.has_ca_bundle else None
        ca_deb = self._paths[(CA_PACKAGE, arch)] if ca is not None else None
        ld_debs: tuple[Path, ...] | None = None
        ld_key: list[str] | None = None
        if recipe.ld_cache:
            layered = locked_packages(self.lock, arch, recipe.layered_packages)
            ld_debs = tuple(self._paths[(p.name, arch)] for p in layered)
            ld_key = [p.sha256 for p in layered]
        fill = self._filler(arch)
        symlinks = tuple((fill(path), fill(target)) for path, target in recipe.symlinks)
        files = GeneratedFiles(
            self.distro, arch, ca_deb, symlinks, ld_debs,
            java_truststore=recipe.java_truststore, made=self._made,
        )  # fmt: skip
        key = _key(
            "bases-generated",
            GENERATED_VERSION,
            self.distro,
            arch if ld_debs is not None else "any",
            ca.sha256 if ca is not None else None,
            [list(s) for s in symlinks],
            ld_key,
            recipe.java_truststore,
        )
        return LayerSource(
            created_by=f"distroless bases: generated files ({recipe.name})",
            entries=files.entries,
            cache_key=f"{GENERATED_PREFIX}{key}",
        )

    def _filler(self, arch: str) -> Callable[[str], str]:
        """Expands ``{arch}`` and ``{upstream:PACKAGE}`` for images of ``arch``."""

        def version_of(name: str) -> str:
            return locked_packages(self.lock, arch, (name,))[0].version

        return lambda text: expand(text, arch, version_of)

    def prefetch(self, recipe: Recipe, tags: Sequence[str], archs: Sequence[str]) -> None:
        """Fetch every .deb the tags need before anything is built.

        A package the mirror cannot serve (an architecture it does not carry) then fails
        the build before a layer reaches the store.
        """
        debug = any(TAG_CONFIGS[t].debug for t in tags if t in TAG_CONFIGS)
        for arch in archs:
            self._prepare(recipe, arch, debug)

    def _busybox(self, arch: str) -> LayerSource:
        package = locked_packages(self.lock, arch, (BUSYBOX_PACKAGE,))[0]
        deb = self._paths[(BUSYBOX_PACKAGE, arch)]
        merged_usr = distro_info(self.distro).merged_usr
        return LayerSource(
            created_by=f"distroless bases: busybox {package.version} under {BUSYBOX_PATH}",
            entries=lambda: busybox_entries(deb, merged_usr=merged_usr),
            cache_key=f"bases-busybox:{_key(GENERATED_VERSION, package.sha256, merged_usr)}",
        )

    def _sources(self, recipe: Recipe, arch: str, tag: TagConfig) -> list[LayerSource]:
        self._prepare(recipe, arch, tag.debug)
        sources = [self._layers[(n, arch)] for n in recipe.layered_packages]
        sources.append(self._generated(recipe, arch))
        if tag.debug:
            sources.append(self._busybox(arch))
        if not self.squash:
            return sources
        key = _key("bases-squash", [s.cache_key for s in sources])
        return [
            LayerSource(
                created_by=f"distroless bases: {recipe.name}:{tag.tag} squashed",
                entries=_squashed(sources),
                cache_key=f"bases-squash:{key}",
            )
        ]

    def make_layers(
        self, wanted: Sequence[tuple[Recipe, Sequence[str]]], archs: Sequence[str], workers: int
    ) -> None:
        """Make every layer the ``(recipe, tags)`` of ``wanted`` need that is not cached yet,
        ``workers`` at a time, before any image is put together.

        A layer's bytes depend only on its source, never on what else is being made, so
        making them side by side gives the blobs one after the other would; each is made
        once even when several bases, tags or architectures share it.  :meth:`build` then
        finds every layer by key.
        """
        todo: dict[str, LayerSource] = {}
        for recipe, tags in wanted:
            for tag in tags:
                config = TAG_CONFIGS.get(tag)
                if config is None or recipe.distro != self.distro:
                    continue  # build() refuses it with the one message for it
                for arch in archs:
                    for source in self._sources(recipe, arch, config):
                        key = layer_cache_key(source, source_date_epoch=self.source_date_epoch)
                        if key is None or key in todo or self._cache.get(key) is not None:
                            continue
                        todo[key] = source
        if not todo:
            return
        self._fetch_debs(archs)

        def make(source: LayerSource) -> None:
            add_layer(
                self.store, source, source_date_epoch=self.source_date_epoch,
                reporter=self.reporter, cache=self._cache,
            )  # fmt: skip

        # generated layers last: their loader cache reads the package layers' entries
        late = [s for s in todo.values() if (s.cache_key or "").startswith(GENERATED_PREFIX)]
        early = [s for s in todo.values() if s not in late]
        for batch in (early, late):
            if workers <= 1 or len(batch) <= 1:
                for source in batch:
                    make(source)
                continue
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for future in [pool.submit(make, s) for s in batch]:
                    future.result()  # the first failure ends the build
        self._fresh.update(s.cache_key for s in todo.values() if s.cache_key)

    def _fetch_debs(self, archs: Sequence[str]) -> None:
        """Fetch the .debs a lazy :meth:`_prepare` only planned, before a layer is made."""
        for arch in archs:
            packages = self._unfetched.pop(arch, [])
            if packages:
                for name, path in self.debs.deb_paths(packages).items():
                    assert path == self._paths[(name, arch)], f"{name}: fetched elsewhere"

    def build(self, recipe: Recipe, tag: str, archs: Sequence[str]) -> BuiltBase:
        """Build one tag of ``recipe`` for ``archs``; an index, or a manifest for one arch."""
        if recipe.distro != self.distro:
            raise UsageError(f"recipe {recipe.name} is for {recipe.distro}, not {self.distro}")
        config = TAG_CONFIGS.get(tag)
        if config is None:
            raise UsageError(f"unknown tag {tag!r} for {recipe.name}; known: {', '.join(TAGS)}")
        self.prefetch(recipe, (tag,), archs)
        if self._shared:  # what the shared cache lacks is made after its .debs come
            self.make_layers([(recipe, (tag,))], archs, 1)
        manifests = []
        for arch in archs:
            manifests.append(
                assemble(
                    self.store,
                    base=None,
                    sources=self._sources(recipe, arch, config),
                    container=container_config(recipe, config, self._filler(arch)),
                    platform=Platform.of_debian(arch),
                    source_date_epoch=self.source_date_epoch,
                    cache=self._cache,
                    reporter=_FreshFirst(self.reporter, self._fresh),
                )
            )
        desc = manifests[0] if len(manifests) == 1 else assemble_index(self.store, manifests)
        names = store_names(recipe.name, tag, self.distro)
        deferred = missing_layers(self.store, desc) if self._shared else frozenset()
        for name in names if not deferred else ():
            if self._refs.get(name) != desc.digest:
                self.store.tag(name, desc)
                self._refs[name] = desc.digest
        self.reporter.event("base-built", name=recipe.name, tag=tag, digest=desc.digest)
        return BuiltBase(recipe.name, tag, self.distro, desc, names, deferred)


class _FreshFirst:
    """Passes events on, except the cache hit of a layer this build has just made."""

    def __init__(self, reporter: Reporter, fresh: set[str]) -> None:
        self._reporter = reporter
        self._fresh = fresh

    def task(self, description: str, total: int | None = None) -> Task:
        return self._reporter.task(description, total)

    def event(self, kind: str, **data: Any) -> None:
        if kind == "layer-cached" and data.get("key") in self._fresh:
            return
        self._reporter.event(kind, **data)


def layer_workers() -> int:
    """One layer per core, at most :data:`MAX_LAYER_WORKERS`."""
    return max(1, min(MAX_LAYER_WORKERS, len(os.sched_getaffinity(0))))


def parse_requests(
    requests: Iterable[str], available: Sequence[str]
) -> list[tuple[str, tuple[str, ...]]]:
    """``NAME[:TAG]`` arguments -> (name, tags) in argument order; none means all bases."""
    out: dict[str, list[str]] = {}
    given = list(requests)
    if not given:
        return [(name, TAGS) for name in available]
    for text in given:
        name, _, tag = text.partition(":")
        if name not in available:
            raise UsageError(f"no base named {name!r} here; known: {', '.join(available)}")
        if tag and tag not in TAGS:
            raise UsageError(f"unknown tag {tag!r} in {text!r}; known: {', '.join(TAGS)}")
        tags = out.setdefault(name, [])
        for t in [tag] if tag else TAGS:
            if t not in tags:
                tags.append(t)
    return [(name, tuple(tags)) for name, tags in out.items()]


def build_bases(
    store: Store,
    debs: Debs,
    recipes: Sequence[Recipe],
    requests: Sequence[tuple[str, Sequence[str]]],
    lock: Lockfile,
    *,
    archs: Sequence[str] = ("amd64", "arm64"),
    squash: bool = False,
    source_date_epoch: int = 0,
    reporter: Reporter | None = None,
    workers: int | None = None,
) -> list[BuiltBase]:
    """Build each requested ``(name, tags)`` of ``recipes`` (all of one distro).

    The layers are made first, ``workers`` at a time (one per core by default), then the
    images are put together from them in request order.
    """
    by_name = {r.name: r for r in recipes}
    builder = BaseBuilder(
        store, debs, lock, squash=squash, source_date_epoch=source_date_epoch, reporter=reporter
    )
    built = []
    with store.session():
        for name, tags in requests:
            builder.prefetch(by_name[name], tags, archs)
        builder.make_layers(
            [(by_name[name], tags) for name, tags in requests],
            archs,
            layer_workers() if workers is None else workers,
        )
        for name, tags in requests:
            for tag in tags:
                built.append(builder.build(by_name[name], tag, archs))
    return built


def build_reference(
    store: Store,
    base: BaseRef,
    debs: Debs,
    *,
    archs: Sequence[str] = ("amd64", "arm64"),
    source_date_epoch: int = 0,
    reporter: Reporter | None = None,
    shared: SharedKeyedCache | None = None,
) -> BuiltBase:
    """Build the one base tag a ``FROM`` line named (see ``parse_base_reference``); with a
    ``shared`` cache its layers may come from there instead of from .debs."""
    recipes = Recipes.builtin()
    builder = BaseBuilder(
        store,
        debs,
        read_lock(recipes, base.distro),
        source_date_epoch=source_date_epoch,
        reporter=reporter,
        shared=shared,
    )
    with store.session():
        return builder.build(recipes.get(base.name, base.distro), base.tag, archs)
