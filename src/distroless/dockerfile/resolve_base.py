"""Where the image named by ``FROM`` (or ``COPY --from=IMAGE``) comes from.

In order: the local store; for ``gcr.io/distroless/<name>[-debian12|-debian13][:tag]`` and
``distroless/<name>`` the built-in recipe of that base, built on the spot; then a registry.
When none of these can provide it, the error names the image and the ways to bring it in,
because the usual cause is a fresh machine with no network access to registries.

Every image found is checked against the user's policy (:data:`PolicyCheck`) before the
build reads it, and remembered (:attr:`BaseResolver.used`) for the build's provenance.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from distroless.assemble.cache import missing_layers
from distroless.errors import DistrolessError, NotFoundError, PolicyError
from distroless.oci.models import Descriptor, Platform
from distroless.oci.reference import Reference
from distroless.reporter import NullReporter, Reporter
from distroless.store import Store, StoredImage

_DISTROLESS = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]*?)(?:-(?P<distro>debian1[23]))?$")


@dataclass(frozen=True)
class DistrolessBase:
    """A ``FROM`` that names one of the built-in bases."""

    name: str
    distro: str | None
    tag: str


def distroless_base(image: str) -> DistrolessBase | None:
    """``gcr.io/distroless/base-debian12:nonroot`` -> (base, debian12, nonroot); else None."""
    try:
        ref = Reference.parse(image)
    except DistrolessError:
        return None
    if ref.digest is not None:
        return None
    if ref.registry not in ("gcr.io", "docker.io") or not ref.repository.startswith("distroless/"):
        return None
    short = ref.repository.removeprefix("distroless/")
    match = _DISTROLESS.match(short)
    if match is None:
        return None
    return DistrolessBase(match.group("name"), match.group("distro"), ref.tag or "latest")


#: Pulls ``image`` from a registry into the store (tagging it); returns its descriptor.
Puller = Callable[[str, Platform], Descriptor]


@dataclass(frozen=True)
class RemoteImage:
    """An image stored without (some of) its layers: pulled without them, or a built-in
    base made of a shared cache's layers.  ``fetch`` brings the layers a build turns out to
    need; once all are stored the image gets ``names``, as a whole pull or build would."""

    descriptor: Descriptor
    fetch: Callable[[Sequence[Descriptor]], None]
    names: tuple[str, ...] = ()


#: Builds a built-in base into the store and tags it ``image``; returns its descriptor, or
#: the image still lacking layers a shared cache has (untagged until they come).
BaseBuilder = Callable[[DistrolessBase, str, Platform], Descriptor | RemoteImage]
#: Pulls ``image``'s documents and config only (a build with a shared cache may need none
#: of its layers); returns what was stored and how to fetch layers later.
LazyPuller = Callable[[str, Platform], RemoteImage]
#: Accepts the image ``name`` resolved to ``descriptor`` (its tag's manifest or index), or
#: raises PolicyError; ``built_locally`` says it was built here from a built-in recipe.
PolicyCheck = Callable[[str, Descriptor, bool], object]

Source = Literal["store", "recipe", "registry"]


@dataclass(frozen=True)
class UsedImage:
    """An image a build read, as its provenance names it.

    ``descriptor`` is what the name resolved to in the store (an index for a multi-platform
    image), ``image`` the platform's manifest the build used; ``role`` is ``base`` for
    ``FROM`` and ``copy-from`` for ``COPY --from=IMAGE``.
    """

    name: str
    platform: Platform
    descriptor: Descriptor
    image: StoredImage
    role: Literal["base", "copy-from"]
    source: Source


def _how_to_provide(image: str) -> str:
    hint = (
        f"`distroless pull {image}` (when a registry is reachable), `distroless load -i "
        "FILE.tar` (from `docker save`), or a spec build tagged with that name"
    )
    # a toolchain such as golang:1.22 can be a builder image named in config.toml [aliases]
    hint += (
        ", or an [aliases] entry in config.toml naming an image to use instead (such as a "
        "builder image, distroless/builder-go and others: docs/bases.md)"
    )
    return hint


@dataclass
class BaseResolver:
    """Resolves image names for one build; remembers what it already resolved."""

    store: Store
    base_builder: BaseBuilder | None = None
    puller: Puller | None = None
    reporter: Reporter = field(default_factory=NullReporter)
    #: ``--pull``: ask the registry (or its mirrors) first, even for the built-in bases.
    pull: bool = False
    #: the user's policy; images pulled here were already checked by the pull itself
    policy: PolicyCheck | None = None
    #: the user's ``[aliases]``: the image a ``FROM`` name stands for, or None
    alias_for: Callable[[str], str | None] | None = None
    #: pulls from a registry without the layers, which come when a step needs their bytes
    #: (:meth:`fetch_layers`); given for builds with a shared cache, where a builder stage
    #: whose every step hits needs none of its image's layers
    lazy_puller: LazyPuller | None = None

    def __post_init__(self) -> None:
        self._seen: dict[tuple[str, str], StoredImage] = {}
        self._lock = threading.Lock()  # stages built in parallel must not build a base twice
        #: every image resolved, in the order first asked for
        self.used: list[UsedImage] = []
        #: layer digest -> the image it is still to be fetched from
        self._remote: dict[str, RemoteImage] = {}
        #: images stored without some of their layers, tagged once those come
        self._incomplete: list[RemoteImage] = []
        self._documents_only: set[str] = set()  # their platform manifests' digests

    def resolve(
        self,
        image: str,
        platform: Platform,
        where: str,
        *,
        role: Literal["base", "copy-from"] = "base",
    ) -> StoredImage:
        key = (image, str(platform))
        with self._lock:
            if key not in self._seen:
                alias = self.alias_for(image) if self.alias_for is not None else None
                if alias is not None:
                    message = f"{where}: {image} is an alias of {alias} (config.toml [aliases])"
                    self.reporter.event("step", message=message)
                # the image used is the one the alias names: the policy and provenance see it
                used = alias or image
                stored, source = self._resolve(used, platform, where)
                if self.policy is not None and source != "registry":
                    stored, source = self._check(used, platform, where, stored, source)
                top = self._top(used, stored)
                self._seen[key] = stored
                self.used.append(UsedImage(used, platform, top, stored, role, source))
            return self._seen[key]

    def _check(
        self, image: str, platform: Platform, where: str, stored: StoredImage, source: Source
    ) -> tuple[StoredImage, Source]:
        """Hold a stored or recipe-built image to the policy (pulls were held by ``pull``).

        A built-in base in the store that fails the policy (unsigned, say) is built again
        from its recipe: that image is verified by Debian's keyring, so it is exempt, and
        when the stored one was built here the rebuild is the same image, from the cache.
        """
        assert self.policy is not None
        try:
            self.policy(image, self._top(image, stored), source == "recipe")
        except PolicyError as exc:
            base = distroless_base(image)
            if source != "store" or base is None or self.base_builder is None:
                raise PolicyError(f"{where}: {exc.message}") from None
            rebuilt = self._build_base(base, image, platform, where)
            self.policy(image, self.store.resolve(image), True)
            return rebuilt, "recipe"
        return stored, source

    def _top(self, image: str, stored: StoredImage) -> Descriptor:
        """What ``image`` names in the store: its tag, or the image not tagged yet."""
        if stored.digest in self._documents_only:
            return stored.descriptor
        return self.store.resolve(image)

    def _from_store(self, image: str, platform: Platform) -> StoredImage | None:
        try:
            return self.store.load_image(image, platform)
        except NotFoundError:
            return None

    def _resolve(self, image: str, platform: Platform, where: str) -> tuple[StoredImage, Source]:
        if self.pull and self.puller is not None:
            return self._pull(image, platform, where, after_store=False), "registry"
        found = self._from_store(image, platform)
        if found is not None:
            self.reporter.event("base", image=image, source="store", digest=found.digest)
            return found, "store"
        base = distroless_base(image)
        if base is not None:
            if self.base_builder is None:
                raise NotFoundError(
                    f"{where}: {image} is not in the store and the built-in base recipes are "
                    f"not available in this installation; run `distroless bases build "
                    f"{base.name}` or bring the image in with {_how_to_provide(image)}"
                )
            return self._build_base(base, image, platform, where), "recipe"
        if self.puller is not None:
            return self._pull(image, platform, where, after_store=True), "registry"
        raise NotFoundError(
            f"{where}: image {image} is not in the store; provide it with {_how_to_provide(image)}"
        )

    def _build_base(
        self, base: DistrolessBase, image: str, platform: Platform, where: str
    ) -> StoredImage:
        assert self.base_builder is not None
        self.reporter.event("step", message=f"building base image {image} from its recipe")
        made = self.base_builder(base, image, platform)
        if isinstance(made, RemoteImage):
            built: StoredImage | None = self._adopt(made, image, platform)
        else:
            built = self._from_store(image, platform)
        if built is None:
            raise NotFoundError(f"{where}: building the base {image} did not store it")
        self.reporter.event("base", image=image, source="recipe", digest=built.digest)
        return built

    def fetch_layers(self, layers: Sequence[Descriptor]) -> None:
        """Bring those of ``layers`` that a pull left in the registry into the store."""
        by_image: dict[str, tuple[RemoteImage, list[Descriptor]]] = {}
        for layer in layers:
            remote = self._remote.get(layer.digest)
            if remote is not None and not self.store.has_blob(layer.digest):
                by_image.setdefault(remote.descriptor.digest, (remote, []))[1].append(layer)
        for remote, missing in by_image.values():
            remote.fetch(missing)
            self.reporter.event("base.layers", digest=remote.descriptor.digest,
                                layers=len(missing))  # fmt: skip

    def keep_complete(self) -> None:
        """Tag each image stored without some layers whose layers the build brought in,
        as a whole pull or build would have; one still lacking some stays untagged."""
        for remote in self._incomplete:
            if not missing_layers(self.store, remote.descriptor):
                for name in remote.names:
                    self.store.tag(name, remote.descriptor)

    def _adopt(self, remote: RemoteImage, image: str, platform: Platform) -> StoredImage:
        """``image`` as ``remote`` stored it, its missing layers to come from there."""
        stored = replace(self.store.load_image(remote.descriptor.digest, platform), name=image)
        self._documents_only.add(stored.digest)
        for layer in stored.layers:
            if not self.store.has_blob(layer.digest):
                self._remote[layer.digest] = remote
        self._incomplete.append(remote)
        return stored

    def _pull(
        self, image: str, platform: Platform, where: str, *, after_store: bool
    ) -> StoredImage:
        assert self.puller is not None
        pulled: StoredImage | None = None
        try:
            if self.lazy_puller is not None:
                pulled = self._adopt(self.lazy_puller(image, platform), image, platform)
            else:
                self.puller(image, platform)
        except PolicyError as exc:
            raise PolicyError(f"{where}: {exc.message}") from None
        except DistrolessError as exc:
            what = (
                f"{image} is not in the store and pulling it" if after_store else f"pulling {image}"
            )
            raise NotFoundError(
                f"{where}: {what} failed ({exc}); provide it with {_how_to_provide(image)}"
            ) from exc
        pulled = pulled or self._from_store(image, platform)
        if pulled is None:
            raise NotFoundError(f"{where}: pulling {image} did not store a {platform} image")
        self.reporter.event("base", image=image, source="registry", digest=pulled.digest)
        return pulled
