"""Which base image a ``FROM`` reference names, so a build can make it on the spot.

``gcr.io/distroless/<name>[-debian12|-debian13][:tag]`` and ``distroless/<name>[...]``
name a built-in base when ``<name>`` is a recipe available for that distro and the tag is
one of the four; anything else (a digest, another repository) is not a base.
"""

from __future__ import annotations

from dataclasses import dataclass

from distroless.bases.recipe import DEFAULT_DISTRO, DISTROS, TAGS, Recipes
from distroless.errors import ReferenceFormatError
from distroless.oci.reference import Reference

PUBLISHED_REGISTRY, PUBLISHED_NAMESPACE = "gcr.io", "distroless"


@dataclass(frozen=True)
class BaseRef:
    name: str
    tag: str
    distro: str


def parse_base_reference(text: str, recipes: Recipes | None = None) -> BaseRef | None:
    """The base ``text`` names, or None when it is not one of the built-in bases."""
    try:
        ref = Reference.parse(text)
    except ReferenceFormatError:
        return None
    if ref.digest is not None or ref.registry not in (PUBLISHED_REGISTRY, "docker.io"):
        return None
    namespace, _, repo = ref.repository.partition("/")
    if namespace != PUBLISHED_NAMESPACE or not repo or "/" in repo:
        return None
    name, distro = repo, DEFAULT_DISTRO
    for candidate in DISTROS:
        if repo.endswith("-" + candidate):
            name, distro = repo[: -len(candidate) - 1], candidate
    tag = ref.tag or "latest"
    known = recipes or Recipes.builtin()
    if tag not in TAGS or not known.available(name, distro):
        return None
    return BaseRef(name, tag, distro)
