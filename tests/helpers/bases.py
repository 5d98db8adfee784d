"""Which built-in bases the core base tests build.

The java and nodejs bases and the extra architectures are checked in
tests/integration/test_bases_family.py, on amd64 only where that is expensive.
"""

from __future__ import annotations

from distroless.bases.recipe import Recipes

CORE_BASES = ("static", "base-nossl", "base", "cc", "python3")


def core_base_names(recipes: Recipes, distro: str) -> list[str]:
    """The core bases ``distro`` has recipes for, in the recipes' order."""
    return [n for n in recipes.names_for(distro) if n in CORE_BASES]
