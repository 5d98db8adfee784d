"""The library's front door for builds: everything ``distroless build`` does, minus the terminal.

:func:`build_image` takes a store, a request (a Dockerfile build or a spec build) and a
reporter, and does what the command does: it finds each ``FROM`` image in the store, in the
built-in base recipes (``FROM gcr.io/distroless/base`` is built on the spot from signed
Debian packages) or in a registry (through its mirrors), and holds each to the policy of the
user's config; it fetches and layers the spec's Debian packages; it attaches an SBOM (and,
when asked, SLSA provenance) and stores the tags.  :func:`build_base_images` does
the same for ``distroless bases build``.  The CLI only turns flags into a request and
prints the outcome.

The modules a request does not need are not imported: a Dockerfile build whose bases are
all in the store loads neither the Debian resolver nor the spec loader.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from distroless.errors import InputError, UsageError
from distroless.oci.models import Descriptor, Platform
from distroless.reporter import NullReporter, Reporter
from distroless.store import Store, StoredImage
from distroless.store.store import normalize_name

if TYPE_CHECKING:
    from distroless.assemble.cache import LayerExchange
    from distroless.bases.build import BuiltBase
    from distroless.debian.lockfile import Lockfile
    from distroless.debian.provider import PackageSource
    from distroless.dockerfile.cache_flags import CacheLocation
    from distroless.dockerfile.executor import BuildResult
    from distroless.dockerfile.resolve_base import (
        BaseBuilder,
        DistrolessBase,
        LazyPuller,
        PolicyCheck,
        Puller,
        RemoteImage,
    )
    from distroless.dockerfile.secrets import BuildSecret
    from distroless.dockerfile.shared_cache import SharedCache
    from distroless.exporters import OutputSpec
    from distroless.pack.image import Packed
    from distroless.registry_config import UserConfig
    from distroless.sign.keys import PrivateKey
    from distroless.spec.model import ImageSpec
    from distroless.transports.registry.endpoints import Registries
    from distroless.warm import WarmInputs

__all__ = [
    "BasesRequest",
    "BuildOutcome",
    "BuildRequest",
    "DockerfileRequest",
    "PackRequest",
    "SpecRequest",
    "build_base_images",
    "build_image",
    "lock_spec_file",
]


@dataclass(frozen=True)
class DockerfileRequest:
    """``distroless build [flags] CONTEXT``: a Dockerfile build.

    ``package_cache`` is where the .debs of built-in bases are kept (the CLI passes
    ``$DISTROLESS_CACHE``); it is needed only when a ``FROM gcr.io/distroless/...`` base is
    not in the store yet.  ``mirror`` overrides the Debian mirror of the host's apt sources,
    ``registry_mirrors`` are tried before the default registry for other ``FROM`` images.
    """

    context: Path
    dockerfile: Path | None = None
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, BuildSecret] = field(default_factory=dict)
    #: BuildKit's entitlements (``network.host``) that RUN steps may ask for
    allow: frozenset[str] = frozenset()
    #: how RUN steps are confined (``build --isolation``): auto, oci or chroot
    isolation: str = "auto"
    target: str | None = None
    #: the one platform to build (None: the host's); see ``platforms`` for several
    platform: Platform | None = None
    #: several target platforms: one image each, stored under one index (``buildx``'s
    #: ``--platform A,B``); a single entry is the same as ``platform``
    platforms: tuple[Platform, ...] = ()
    no_cache: bool = False
    #: take every ``FROM`` image from its registry, even when stored or built in
    pull: bool = False
    registry_mirrors: tuple[str, ...] = ()
    sbom: bool = True
    source_date_epoch: int = 0
    package_cache: Path | None = None
    mirror: str | None = None
    #: where RUN steps' stdout and stderr go; None keeps them for the error message
    run_output: IO[bytes] | int | None = None
    #: attach SLSA provenance (an in-toto statement) as a referrer of the image
    provenance: bool = False
    #: sign the provenance as a DSSE envelope with this key
    provenance_key: PrivateKey | None = None
    #: registries and the policy ``FROM`` images must meet; None reads ``config.toml``
    config: UserConfig | None = None
    #: shared build caches to read (``--cache-from``) and the one to write (``--cache-to``)
    cache_from: tuple[CacheLocation, ...] = ()
    cache_to: CacheLocation | None = None
    #: what decides the image besides the context, for the warm record of a build that
    #: executed nothing (:mod:`distroless.warm`); None writes no record
    warm: WarmInputs | None = None
    #: ``--label``: set on the final image after the Dockerfile's labels
    labels: Mapping[str, str] = field(default_factory=dict)
    #: ``--output``: where the image goes besides the store
    outputs: tuple[OutputSpec, ...] = ()
    #: the stream ``--output dest=-`` writes to
    stdout: IO[bytes] | None = None
    #: ``--build-context NAME=DIR|docker-image://REF``: named contexts by name
    build_contexts: Mapping[str, str] = field(default_factory=dict)
    #: ``--ssh ID=SOCKET``: agent sockets ``RUN --mount=type=ssh`` may forward, by id
    ssh: Mapping[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """A request that cannot be built fails here, before a store is touched."""
        from distroless.dockerfile.executor import ENTITLEMENTS

        if not self.context.is_dir():
            raise UsageError(f"build context {str(self.context)!r} is not a directory")
        if self.platform is not None and self.platforms:
            raise UsageError("give the request platform or platforms, not both")
        _check_tags(self.tags)
        for entitlement in sorted(self.allow):
            if entitlement not in ENTITLEMENTS:
                raise UsageError(
                    f"unknown --allow {entitlement!r}: the entitlements are "
                    f"{', '.join(ENTITLEMENTS)}"
                )


@dataclass(frozen=True)
class SpecRequest:
    """``distroless build --spec FILE``: a declarative build.

    No ``tags`` means the spec's own ``tags``; no ``platforms`` means the spec's ``archs``
    (or the host's).  ``package_cache`` is needed when the spec lists packages.
    """

    spec: Path
    tags: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] = ()
    sbom: bool = True
    source_date_epoch: int = 0
    package_cache: Path | None = None
    mirror: str | None = None
    #: attach SLSA provenance (the spec and its package lock by digest)
    provenance: bool = False
    provenance_key: PrivateKey | None = None
    #: tried before the default registry when ``base:`` comes from a registry
    registry_mirrors: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    outputs: tuple[OutputSpec, ...] = ()
    stdout: IO[bytes] | None = None

    def __post_init__(self) -> None:
        _check_tags(self.tags)


@dataclass(frozen=True)
class PackRequest:
    """``distroless pack PATH... -t NAME``: programs and their ELF closure in a new image.

    ``source`` is the stored image the programs were built in (a builder stage, a Debian
    image); None takes them from ``source_root``, a directory (the host's ``/`` when
    None).  ``base`` is ``scratch``, a built-in base name (``static``) or any image name;
    ``extras`` are the ``--with`` names (:data:`distroless.pack.EXTRAS`).
    """

    programs: tuple[str, ...]
    tags: tuple[str, ...] = ()
    source: str | None = None
    source_root: Path | None = None
    platform: Platform | None = None
    base: str = "scratch"
    extras: frozenset[str] = frozenset()
    sbom: bool = True
    source_date_epoch: int = 0
    package_cache: Path | None = None
    mirror: str | None = None

    def __post_init__(self) -> None:
        from distroless.pack.plan import parse_extras

        if not self.programs:
            raise UsageError("pack needs at least one program path")
        if self.source is not None and self.source_root is not None:
            raise UsageError("take the programs from an image or from a directory, not both")
        parse_extras(self.extras)
        _check_tags(self.tags)


BuildRequest = DockerfileRequest | SpecRequest | PackRequest


@dataclass(frozen=True)
class BuildOutcome:
    """What a build stored.

    ``descriptor`` is the image (a manifest, or an index for a multi-platform build);
    ``tags`` the names it was stored under, normalised as the store keeps them; ``sboms``
    the attached SBOM artifacts, one per platform manifest (none with ``sbom=False``);
    ``provenance`` the attached in-toto statement's referrer, when one was asked for;
    ``dockerfile`` the executor's account of a Dockerfile build (which steps ran and which
    came from the cache; the first platform's of several), None for a spec build;
    ``platform_builds`` that account for each platform of a multi-platform Dockerfile build.
    """

    descriptor: Descriptor
    tags: tuple[str, ...] = ()
    sboms: tuple[Descriptor, ...] = ()
    dockerfile: BuildResult | None = None
    platform_builds: tuple[BuildResult, ...] = ()
    #: what a pack carried (packages, warnings), None for other builds
    packed: Packed | None = None
    provenance: Descriptor | None = None


@dataclass(frozen=True)
class BasesRequest:
    """``distroless bases build [NAME[:TAG]]...``: base images from the committed locks.

    No ``names`` means every base of ``distro`` with all its tags; ``distro`` None is the
    default release.  ``builder-<kind>`` names a builder image (``builder-go``), built only
    when named.  ``archs`` are Debian architectures; None means the host's and arm64 for
    bases, the host's alone for builders.
    """

    package_cache: Path
    names: tuple[str, ...] = ()
    distro: str | None = None
    archs: tuple[str, ...] | None = None
    squash: bool = False
    source_date_epoch: int = 0
    mirror: str | None = None

    def __post_init__(self) -> None:
        """Unknown names and tags fail here, before a store is touched."""
        from distroless.bases.build import parse_requests
        from distroless.bases.recipe import DEFAULT_DISTRO, Recipes

        distro = self.distro or DEFAULT_DISTRO
        bases, builders = _split_builders(self.names)
        if builders and distro != DEFAULT_DISTRO:
            raise UsageError(f"builders are made from {DEFAULT_DISTRO} only, not {distro}")
        for name in builders:
            _builder_request(name)
        if bases or not builders:
            parse_requests(bases, Recipes.builtin().names_for(distro))


def build_image(
    store: Store, request: BuildRequest, reporter: Reporter | None = None
) -> BuildOutcome:
    """Build ``request`` into ``store``, attach its SBOM and tag it.

    Raises a :class:`~distroless.errors.DistrolessError` subclass naming what is at fault:
    :class:`DockerfileError` or :class:`SpecError` for the input, :class:`BuildError` for
    a failing step, :class:`NotFoundError` for a base that cannot be found,
    :class:`UsageError` when a package cache is needed and the request has none.  (A
    request that cannot be built as given, with no such context, a bad tag or an unknown
    entitlement, already failed when it was made.)
    """
    report = reporter or NullReporter()
    if isinstance(request, PackRequest):
        return _build_pack(store, request, report)
    with store.session():
        if isinstance(request, DockerfileRequest):
            outcome = _build_dockerfile(store, request, report)
        else:
            outcome = _build_spec(store, request, report)
        _export(store, request, outcome)
    return outcome


def _export(store: Store, request: DockerfileRequest | SpecRequest, outcome: BuildOutcome) -> None:
    """``--output``: each exporter in turn, once the image is stored."""
    if not request.outputs:
        return
    from distroless.exporters.write import export

    for output in request.outputs:
        export(store, outcome.descriptor, output, outcome.tags, request.stdout)


def _check_tags(tags: tuple[str, ...]) -> None:
    for tag in tags:
        normalize_name(tag)  # a bad name fails before any work is done


def _package_cache(given: Path | None, what: str) -> Path:
    if given is None:
        raise UsageError(f"{what} needs a package cache; give the request a package_cache")
    return given


def _targets(request: DockerfileRequest) -> tuple[Platform | None, ...]:
    """The platforms to build, each once, in the order given (None: the host's)."""
    if request.platforms:
        return tuple(dict.fromkeys(request.platforms))
    return (request.platform,)


def _debian_archs(platforms: Sequence[Platform | None]) -> tuple[str, ...]:
    """The Debian architectures of the targets a built-in base is made for together."""
    archs: list[str] = []
    for platform in platforms:
        if platform is None:
            continue
        with contextlib.suppress(UsageError, InputError):
            archs.append(platform.debian_arch())
    return tuple(dict.fromkeys(archs))


def _import_ahead(module: str) -> None:
    """Import ``module`` on a thread of its own, for a step the build comes to at its end.

    Importing the SBOM writer (and the signing code it pulls in) takes a good part of a
    second; a build spends longer than that waiting for its RUN steps, with the interpreter
    idle.  Whoever needs the module first waits for the import under way.
    """
    threading.Thread(target=importlib.import_module, args=(module,), name="import").start()


def _build_dockerfile(store: Store, request: DockerfileRequest, reporter: Reporter) -> BuildOutcome:
    """One build per target platform; several give one index, as ``buildx --platform``.

    The platforms share one step cache, so a stage that is the same for all of them (a
    ``FROM --platform=$BUILDPLATFORM`` builder that ignores the target) is built once; a
    built-in base is made for every target at once, so its tag names one index.
    """
    from distroless.assemble.image import assemble_index
    from distroless.dockerfile.cache import BuildCache
    from distroless.dockerfile.executor import BuildOptions, build_dockerfile
    from distroless.dockerfile.resolve_base import BaseResolver
    from distroless.registry_config import UserConfig

    config = request.config if request.config is not None else UserConfig.load()
    targets = _targets(request)
    several = len(targets) > 1
    recorder = None
    if request.warm is not None and request.config is None and not several:
        from distroless.warm_record import WarmRecorder

        recorder = WarmRecorder(request.warm, request.tags, request.dockerfile, reporter)
        reporter = recorder.reporter
    cache = BuildCache(store, enabled=not request.no_cache)
    if request.sbom:
        _import_ahead("distroless.verify.attach")
    with store.session(), _shared_cache(request, config, reporter) as shared:
        resolver = BaseResolver(
            store,
            base_builder=_base_builder(
                store,
                request,
                reporter,
                _debian_archs([p or Platform.host() for p in targets]),
                shared=shared,
            ),
            puller=_puller(store, config, request.registry_mirrors, reporter),
            reporter=reporter,
            pull=request.pull,
            policy=_policy(store, config),
            alias_for=config.alias_for,
            lazy_puller=(
                _lazy_puller(store, config, request.registry_mirrors, reporter)
                if request.cache_from
                else None
            ),
        )
        results: list[BuildResult] = []
        for platform in targets:
            options = BuildOptions(
                context=request.context,
                dockerfile=request.dockerfile,
                build_args=request.build_args,
                secrets=request.secrets,
                allow=request.allow,
                isolation=request.isolation,
                target=request.target,
                platform=platform,
                no_cache=request.no_cache,
                source_date_epoch=request.source_date_epoch,
                run_output=request.run_output,
                platform_in_steps=several,
                named_contexts=request.build_contexts,
                ssh=request.ssh,
                list_added_files=request.sbom,
            )
            result = build_dockerfile(
                store, options, resolver=resolver, reporter=reporter, shared=shared, cache=cache
            )
            results.append(_labelled(store, result, request.labels))
            if several:
                reporter.event(
                    "platform-built", platform=str(platform), digest=results[-1].descriptor.digest
                )
        resolver.keep_complete()
        desc = (
            assemble_index(store, [r.descriptor for r in results])
            if several
            else results[0].descriptor
        )
        # the files each platform's final stage COPY/ADD wrote, hashed from its image
        sboms: tuple[Descriptor, ...] = ()
        for result in results:
            sboms += _attach_sbom(store, request, result.descriptor, list(result.added_files))
        provenance = None
        if request.provenance:
            from distroless.sign.build_provenance import attach_dockerfile_provenance

            provenance = attach_dockerfile_provenance(
                store, request, results, resolver.used, image=desc
            )
        tags = tuple(store.tag(name, desc) for name in request.tags)
        if recorder is not None:
            recorder.finish(store, results[0], sboms, tags, resolver.used, bool(config.policies))
    return BuildOutcome(
        desc,
        tags,
        sboms,
        results[0],
        platform_builds=tuple(results) if several else (),
        provenance=provenance,
    )


def _labelled(store: Store, result: BuildResult, labels: Mapping[str, str]) -> BuildResult:
    """``--label`` merged into the built image (docker's order: after the Dockerfile's)."""
    if not labels:
        return result
    import dataclasses

    from distroless.assemble.relabel import with_labels

    desc = with_labels(store, result.descriptor, labels)
    container = result.config.config
    merged = dataclasses.replace(container, labels={**container.labels, **labels})
    return dataclasses.replace(
        result, descriptor=desc, config=dataclasses.replace(result.config, config=merged)
    )


@contextlib.contextmanager
def _shared_cache(
    request: DockerfileRequest, config: UserConfig, reporter: Reporter
) -> Iterator[SharedCache | None]:
    """The caches of ``--cache-from``/``--cache-to``, sharing one set of registry clients.

    A registry that does not answer costs one quick try, not a pull's patient retries: a
    missing cache only makes the build slower, and a slow failure would cost more.
    """
    if not request.cache_from and request.cache_to is None:
        yield None
        return
    from distroless.dockerfile.shared_cache import CacheBackend, SharedCache
    from distroless.transports.build_cache import LocalCache, RegistryCache
    from distroless.transports.registry.client import RetryPolicy
    from distroless.transports.registry.endpoints import Registries

    with Registries(config, retry=RetryPolicy(attempts=2, base_delay=0.2), timeout=20.0) as regs:

        def backend(where: CacheLocation) -> CacheBackend:
            if where.type == "registry":
                assert where.ref is not None
                return RegistryCache(where.ref, regs, reporter)
            assert where.path is not None
            return LocalCache(where.path)

        sink = request.cache_to
        yield SharedCache(
            [backend(w) for w in request.cache_from],
            backend(sink) if sink is not None else None,
            reporter,
            mode=sink.mode if sink is not None else "min",
        )


def _policy(store: Store, config: UserConfig) -> PolicyCheck | None:
    """The check of ``FROM`` and ``COPY --from`` images; None when the config has no policy
    (and then the signature modules are not loaded)."""
    if not config.policies:
        return None

    def check(image: str, descriptor: Descriptor, built_locally: bool) -> object:
        from distroless.sign.policy import check_image_policy

        return check_image_policy(config, image, descriptor, store, built_locally=built_locally)

    return check


def _attach_sbom(
    store: Store, request: BuildRequest, desc: Descriptor, added: list[str]
) -> tuple[Descriptor, ...]:
    if not request.sbom:
        return ()
    from distroless.verify.attach import attach_sbom

    return attach_sbom(store, desc, added_files=added, source_date_epoch=request.source_date_epoch)


def _base_builder(
    store: Store,
    request: DockerfileRequest | PackRequest | SpecRequest,
    reporter: Reporter,
    archs: tuple[str, ...] = (),
    *,
    shared: LayerExchange | None = None,
) -> BaseBuilder:
    """Builds a ``FROM gcr.io/distroless/...`` base from its built-in recipe and lock, its
    layers taken from the ``shared`` cache where it has them, and fetched from there only
    when the build reads them.

    ``archs`` are built together with the platform asked for (a spec's architectures, a
    Dockerfile build's targets: one index, so every platform finds the base under its name,
    and a stage fixed to another platform does not take the tag from the targets).  The
    bases and Debian modules load only when a base is actually missing.
    """

    def build(base: DistrolessBase, image: str, platform: Platform) -> Descriptor | RemoteImage:
        from distroless.assemble.cache import SharedKeyedCache
        from distroless.bases.build import build_reference
        from distroless.bases.builders import build_builder, parse_builder_reference
        from distroless.bases.recipe import DEFAULT_DISTRO
        from distroless.bases.reference import BaseRef
        from distroless.debian.provider import PackageSource
        from distroless.dockerfile.resolve_base import RemoteImage
        from distroless.oci.reference import Reference

        # distroless/builder-go:1.24-debian13 names a builder (its tag is the Go version)
        local = Reference.parse(image).registry != "gcr.io" and base.distro is None
        builder = parse_builder_reference(base.name, base.tag) if local else None
        cache = _package_cache(request.package_cache, f"building the base {image}")
        source = PackageSource(cache, mirror=request.mirror, reporter=reporter)
        keyed = SharedKeyedCache(store, shared) if shared is not None else None
        try:
            if builder is not None:
                built = build_builder(
                    store,
                    builder.name,
                    source,
                    archs=(platform.debian_arch(),),
                    source_date_epoch=request.source_date_epoch,
                    reporter=reporter,
                    shared=keyed,
                )
            else:
                built = build_reference(
                    store,
                    BaseRef(base.name, base.tag, base.distro or DEFAULT_DISTRO),
                    source,
                    archs=tuple(dict.fromkeys((*archs, platform.debian_arch()))),
                    source_date_epoch=request.source_date_epoch,
                    reporter=reporter,
                    shared=keyed,
                )
        finally:
            source.close()
        if not built.deferred:
            return built.descriptor
        assert keyed is not None
        shared_layers = keyed

        def fetch(layers: Sequence[Descriptor]) -> None:
            shared_layers.fetch(layer.digest for layer in layers)

        return RemoteImage(built.descriptor, fetch, built.refs)

    return build


def _puller(
    store: Store, config: UserConfig, mirrors: tuple[str, ...], reporter: Reporter
) -> Puller:
    """Pull from a registry once, quickly: a machine without registry access fails fast.

    ``mirrors`` serve the default registry, as docker's daemon does.
    """

    def pull_image(image: str, platform: Platform) -> Descriptor:
        from distroless.oci.reference import DEFAULT_REGISTRY
        from distroless.transports.registry.client import RetryPolicy
        from distroless.transports.registry.endpoints import Registries
        from distroless.transports.registry.pull import pull

        settings = config.with_mirrors(DEFAULT_REGISTRY, mirrors) if mirrors else config
        with Registries(settings, retry=RetryPolicy(attempts=1), timeout=20.0) as regs:
            result = pull(store, image, platform=platform, registries=regs, reporter=reporter)
        return result.descriptor

    return pull_image


def _lazy_puller(
    store: Store, config: UserConfig, mirrors: tuple[str, ...], reporter: Reporter
) -> LazyPuller:
    """A pull of the documents and config only, for a build whose shared cache may make
    an image's layers unnecessary; the layers come from the same registry when needed,
    pinned to the manifest's digest."""

    def open_registries() -> Registries:
        from distroless.oci.reference import DEFAULT_REGISTRY
        from distroless.transports.registry.client import RetryPolicy
        from distroless.transports.registry.endpoints import Registries

        settings = config.with_mirrors(DEFAULT_REGISTRY, mirrors) if mirrors else config
        return Registries(settings, retry=RetryPolicy(attempts=1), timeout=20.0)

    def pull_documents(image: str, platform: Platform) -> RemoteImage:
        from distroless.dockerfile.resolve_base import RemoteImage
        from distroless.transports.registry.pull import fetch_layers, pull

        with open_registries() as regs:
            result = pull(store, image, platform=platform, registries=regs, reporter=reporter,
                          layers=False)  # fmt: skip
        ref = result.reference
        pinned = ref.with_digest(result.descriptor.digest)

        def fetch(layers: Sequence[Descriptor]) -> None:
            with open_registries() as regs:
                fetch_layers(store, pinned, list(layers), registries=regs, reporter=reporter)

        names = (str(ref.with_tag(ref.tag)),) if ref.tag and ref.digest is None else ()
        return RemoteImage(result.descriptor, fetch, names)

    return pull_documents


def _spec_base_lookup(
    store: Store,
    request: SpecRequest,
    spec: ImageSpec,
    reporter: Reporter,
    platforms: Sequence[Platform],
) -> Callable[[str, Platform], StoredImage]:
    """``base:`` resolves as ``FROM`` does: the store, a built-in base built on the spot, or a
    registry through its mirrors."""
    from distroless.dockerfile.resolve_base import BaseResolver
    from distroless.registry_config import UserConfig

    archs = tuple(dict.fromkeys(p.debian_arch() for p in platforms))
    resolver = BaseResolver(
        store,
        base_builder=_base_builder(store, request, reporter, archs),
        puller=_puller(store, UserConfig.load(), request.registry_mirrors, reporter),
        reporter=reporter,
    )
    where = f"{spec.path}:{spec.base_line}" if spec.base_line else str(spec.path)

    def lookup(name: str, platform: Platform) -> StoredImage:
        return resolver.resolve(name, platform, where)

    return lookup


def _spec_package_source(
    request: SpecRequest, spec: ImageSpec, reporter: Reporter, doing: str
) -> PackageSource | None:
    """The Debian archive a spec's packages come from; None when it lists none, so a spec
    of files alone needs no package cache."""
    if not spec.packages:
        return None
    from distroless.debian.provider import PackageSource

    cache = _package_cache(request.package_cache, f"{spec.path}: {doing}")
    return PackageSource(
        cache, mirror=request.mirror, repositories=spec.repositories, reporter=reporter
    )


def _build_spec(store: Store, request: SpecRequest, reporter: Reporter) -> BuildOutcome:
    from distroless.assemble.spec_build import build_spec, platforms_of
    from distroless.spec import load_spec

    spec = load_spec(request.spec)
    chosen = platforms_of(spec, request.platforms)
    source = _spec_package_source(request, spec, reporter, "installing packages")
    try:
        with store.session():
            package_layers = python_layers = None
            if source is not None:
                from distroless.assemble.packages import SpecPackages

                archs = [p.debian_arch() for p in chosen]
                package_layers = SpecPackages(store, source, archs, reporter)
            if spec.python is not None:
                from distroless.python.layers import SpecWheels

                cache = _package_cache(request.package_cache, f"{spec.path}: installing wheels")
                python_layers = SpecWheels(store, cache, [p.architecture for p in chosen], reporter)
            desc = build_spec(
                store,
                spec,
                package_layers=package_layers,
                python_layers=python_layers,
                base_lookup=_spec_base_lookup(store, request, spec, reporter, chosen),
                platforms=chosen,
                source_date_epoch=request.source_date_epoch,
                reporter=reporter,
            )
            if request.labels:
                from distroless.assemble.relabel import with_labels

                desc = with_labels(store, desc, request.labels)
            sboms = _attach_sbom(store, request, desc, _spec_files(spec))
            provenance = None
            if request.provenance:
                from distroless.sign.build_provenance import attach_spec_provenance

                names = request.tags or spec.tags
                provenance = attach_spec_provenance(store, request, spec, desc, chosen, names)
            tags = tuple(store.tag(name, desc) for name in request.tags or spec.tags)
    finally:
        if source is not None:
            source.close()
    return BuildOutcome(desc, tags, sboms, provenance=provenance)


def lock_spec_file(
    store: Store, request: SpecRequest, reporter: Reporter | None = None
) -> tuple[Path, Lockfile]:
    """``distroless lock``: resolve the spec's packages and wheels onto its base and write the
    lock beside the spec; returns its path and content.

    The base is found as a build finds it (and built on the spot when it is a built-in
    one), because only what it lacks is locked.
    """
    from distroless.assemble.packages import lock_spec
    from distroless.assemble.spec_build import platforms_of
    from distroless.spec import load_spec

    report = reporter or NullReporter()
    spec = load_spec(request.spec)
    chosen = platforms_of(spec, request.platforms)
    source = _spec_package_source(request, spec, report, "locking packages")
    try:
        with store.session():
            lookup = _spec_base_lookup(store, request, spec, report, chosen)
            bases = {
                p.architecture: None if spec.base == "scratch" else lookup(spec.base, p)
                for p in chosen
            }
            lock = lock_spec(store, source, spec, [p.architecture for p in chosen], bases)
            if spec.python is not None:
                from distroless.python.layers import lock_wheels

                lock = lock_wheels(store, spec, bases, lock, report)
    finally:
        if source is not None:
            source.close()
    lock.write(spec.lock_path)
    return spec.lock_path, lock


def _spec_files(spec: ImageSpec) -> list[str]:
    """The ``files:`` entries with content, by path; the SBOM hashes them from the image."""
    return [f.dst for f in spec.files if f.src is not None or f.content is not None]


def _build_pack(store: Store, request: PackRequest, reporter: Reporter) -> BuildOutcome:
    from distroless.pack.source import pack_from_request

    with store.session():
        packed = pack_from_request(
            store, request, base_builder=_base_builder(store, request, reporter), reporter=reporter
        )
        sboms = _attach_sbom(store, request, packed.descriptor, list(packed.unowned))
        tags = tuple(store.tag(name, packed.descriptor) for name in request.tags)
    return BuildOutcome(packed.descriptor, tags, sboms, packed=packed)


def _split_builders(names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(base requests, builder requests)`` of ``bases build`` arguments."""
    from distroless.bases.builders import PREFIX

    builders = tuple(n for n in names if n.startswith(PREFIX))
    return tuple(n for n in names if n not in builders), builders


def _builder_request(text: str) -> str:
    """The builder ``builder-<kind>[:TAG]`` names; a TAG must be the one it will get."""
    from distroless.bases.builders import kind_of, parse_builder_reference

    name, _, tag = text.partition(":")
    kind = kind_of(name)
    if tag:
        parse_builder_reference(name, tag)
    return kind.name


def build_base_images(
    store: Store, request: BasesRequest, reporter: Reporter | None = None
) -> list[BuiltBase]:
    """Build the requested bases and tags, stored under their ``distroless/`` and published
    names, then the requested builders; returns one entry per tag built, in request order."""
    from distroless.bases.build import build_bases, parse_requests
    from distroless.bases.builders import build_builder
    from distroless.bases.locks import read_lock
    from distroless.bases.platforms import default_archs, host_arch
    from distroless.bases.recipe import DEFAULT_DISTRO, Recipes
    from distroless.debian.provider import PackageSource

    distro = request.distro or DEFAULT_DISTRO
    recipes = Recipes.builtin()
    bases, builders = _split_builders(request.names)
    requests = parse_requests(bases, recipes.names_for(distro)) if bases or not builders else []
    source = PackageSource(request.package_cache, mirror=request.mirror, reporter=reporter)
    built: list[BuiltBase] = []
    try:
        if requests:
            built += build_bases(
                store,
                source,
                [recipes.get(name, distro) for name, _ in requests],
                requests,
                read_lock(recipes, distro),
                archs=request.archs or default_archs(),
                squash=request.squash,
                source_date_epoch=request.source_date_epoch,
                reporter=reporter,
            )
        for name in dict.fromkeys(_builder_request(n) for n in builders):
            built.append(
                build_builder(
                    store,
                    name,
                    source,
                    archs=request.archs or (host_arch(),),
                    source_date_epoch=request.source_date_epoch,
                    reporter=reporter,
                )
            )
    finally:
        source.close()
    return built
