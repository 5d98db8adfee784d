"""The base image recipes: YAML data under ``recipes/``, validated once, flattened per distro.

A recipe names its parent and the packages it adds per distro; flattening walks the parent
chain so ``python3`` for ``debian13`` becomes the whole exact package list, the merged
environment and the extra files.  The lists are exact on purpose: no dependency
resolution happens for the bases, which is how the published images are defined.

What differs between distros besides the packages (Python 3.13 against 3.11) goes in a
recipe's ``distros`` section.  Two placeholders are filled per image: ``{arch}`` (the
Debian architecture, in symlink targets: Debian's JVM lives in
``/usr/lib/jvm/java-21-openjdk-<arch>``) and ``{upstream:PACKAGE}`` (in env values: the
locked package's upstream version, without epoch, Debian revision or ``+build`` suffix).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from distroless.errors import InputError, NotFoundError, UsageError

DEFAULT_DISTRO = "debian13"
DISTROS = ("debian13", "debian12")
TAGS = ("latest", "nonroot", "debug", "debug-nonroot")
#: The package whose certificates become the bundle; it is never laid down as a layer.
CA_PACKAGE = "ca-certificates"
#: The static busybox of the debug tags.
BUSYBOX_PACKAGE = "busybox-static"

PackageName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9+.\-]+$")]
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_UPSTREAM = re.compile(r"^upstream:([a-z0-9][a-z0-9+.\-]+)$")


def _check_placeholders(text: str, *, versions: bool) -> str:
    for match in _PLACEHOLDER.finditer(text):
        inner = match.group(1)
        if inner == "arch" or (versions and _UPSTREAM.match(inner)):
            continue
        allowed = "{arch} or {upstream:PACKAGE}" if versions else "{arch}"
        raise ValueError(f"unknown placeholder {match.group(0)!r} in {text!r}; use {allowed}")
    return text


def upstream_version(version: str) -> str:
    """``2:21.0.13.1+2-1~deb13u1`` -> ``21.0.13.1``: what the program calls its version."""
    text = version.split(":", 1)[-1]
    if "-" in text:
        text = text.rsplit("-", 1)[0]
    return re.split(r"[+~]", text, maxsplit=1)[0]


def expand(text: str, arch: str, version_of: Callable[[str], str]) -> str:
    """``text`` with its placeholders filled for one image."""

    def fill(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner == "arch":
            return arch
        upstream = _UPSTREAM.match(inner)
        if upstream is None:  # validated when the recipe was read
            raise UsageError(f"unknown placeholder {match.group(0)!r}")
        return upstream_version(version_of(upstream.group(1)))

    return _PLACEHOLDER.sub(fill, text)


class _Settings(BaseModel):
    """What a recipe sets besides packages; also the shape of one ``distros`` entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    symlinks: dict[str, str] = Field(default_factory=dict)

    @field_validator("env")
    @classmethod
    def _env_placeholders(cls, value: dict[str, str]) -> dict[str, str]:
        for text in value.values():
            _check_placeholders(text, versions=True)
        return value

    @field_validator("symlinks")
    @classmethod
    def _absolute_links(cls, value: dict[str, str]) -> dict[str, str]:
        for path, target in value.items():
            if not path.startswith("/"):
                raise ValueError(f"symlink path {path!r} must be absolute")
            _check_placeholders(path, versions=False)
            _check_placeholders(target, versions=False)
        return value


class RecipeModel(_Settings):
    """The YAML file as written; only used at the boundary."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]*$")
    description: str = ""
    parent: str | None = None
    packages: dict[str, list[PackageName]]
    #: per-distro settings laid over the ones above
    distros: dict[str, _Settings] = Field(default_factory=dict)
    ld_cache: bool = False
    #: generate ``/etc/ssl/certs/java/cacerts`` from the CA bundle
    java_truststore: bool = False

    @field_validator("packages", "distros")
    @classmethod
    def _known_distros(cls, value: dict[str, object]) -> dict[str, object]:
        unknown = sorted(set(value) - set(DISTROS))
        if unknown:
            raise ValueError(f"unknown distro {unknown[0]!r}; known: {', '.join(DISTROS)}")
        return value


@dataclass(frozen=True)
class Recipe:
    """One base for one distro, parents folded in: what the builder needs."""

    name: str
    distro: str
    description: str
    packages: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    entrypoint: tuple[str, ...] | None
    cmd: tuple[str, ...] | None
    symlinks: tuple[tuple[str, str], ...]
    ld_cache: bool
    java_truststore: bool = False

    @property
    def layered_packages(self) -> tuple[str, ...]:
        """Packages that become layers (the CA package only feeds the bundle)."""
        return tuple(p for p in self.packages if p != CA_PACKAGE)

    @property
    def has_ca_bundle(self) -> bool:
        return CA_PACKAGE in self.packages


def _parse(text: str, source: str) -> RecipeModel:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(f"{source}{line}: not valid YAML") from None
    try:
        return RecipeModel.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "the top level"
        raise InputError(f"{source}: {where}: {err['msg']}") from None


def load_models(texts: Mapping[str, str]) -> dict[str, RecipeModel]:
    """Parse every recipe (file name -> text); names must be unique and parents known."""
    models: dict[str, RecipeModel] = {}
    for source in sorted(texts):
        model = _parse(texts[source], source)
        if model.name in models:
            raise InputError(f"{source}: recipe {model.name!r} is defined twice")
        models[model.name] = model
    for model in models.values():
        seen = [model.name]
        parent = model.parent
        while parent is not None:
            if parent not in models:
                raise InputError(f"recipe {model.name!r}: unknown parent {parent!r}")
            if parent in seen:
                raise InputError(f"recipe {model.name!r}: parent chain loops at {parent!r}")
            seen.append(parent)
            parent = models[parent].parent
    return models


def builtin_texts() -> dict[str, str]:
    """The recipes shipped with the package, by file name."""
    folder = resources.files("distroless.bases") / "recipes"
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    }


class Recipes:
    """All recipes, flattened on request for a distro."""

    def __init__(self, models: Mapping[str, RecipeModel]) -> None:
        self._models = dict(models)

    @classmethod
    def builtin(cls) -> Recipes:
        return cls(load_models(builtin_texts()))

    @property
    def names(self) -> list[str]:
        """Recipe names, parents before children (then by name)."""
        depth = {n: len(self._chain(n)) for n in self._models}
        return sorted(self._models, key=lambda n: (depth[n], n))

    def _chain(self, name: str) -> list[RecipeModel]:
        chain = []
        current: str | None = name
        while current is not None:
            chain.append(self._models[current])
            current = self._models[current].parent
        return list(reversed(chain))

    def available(self, name: str, distro: str) -> bool:
        return name in self._models and all(distro in m.packages for m in self._chain(name))

    def names_for(self, distro: str) -> list[str]:
        return [n for n in self.names if self.available(n, distro)]

    def get(self, name: str, distro: str = DEFAULT_DISTRO) -> Recipe:
        if distro not in DISTROS:
            raise UsageError(f"unknown distro {distro!r}; known: {', '.join(DISTROS)}")
        if name not in self._models:
            raise NotFoundError(f"no base named {name!r}; known: {', '.join(self.names)}")
        if not self.available(name, distro):
            raise NotFoundError(f"base {name!r} is not built for {distro}")
        packages: list[str] = []
        env: dict[str, str] = {}
        entrypoint: list[str] | None = None
        cmd: list[str] | None = None
        symlinks: dict[str, str] = {}
        ld_cache = java_truststore = False
        for model in self._chain(name):
            for package in model.packages[distro]:
                if package not in packages:
                    packages.append(package)
            override = model.distros.get(distro)
            for settings in (model, override) if override is not None else (model,):
                env.update(settings.env)
                if settings.entrypoint is not None:
                    entrypoint, cmd = settings.entrypoint, None
                if settings.cmd is not None:
                    cmd = settings.cmd
                symlinks.update(settings.symlinks)
            ld_cache = ld_cache or model.ld_cache
            java_truststore = java_truststore or model.java_truststore
        model = self._models[name]
        override = model.distros.get(distro)
        description = model.description
        if override is not None and override.description is not None:
            description = override.description
        return Recipe(
            name=name,
            distro=distro,
            description=description,
            packages=tuple(packages),
            env=tuple(env.items()),
            entrypoint=tuple(entrypoint) if entrypoint is not None else None,
            cmd=tuple(cmd) if cmd is not None else None,
            symlinks=tuple(sorted(symlinks.items())),
            ld_cache=ld_cache,
            java_truststore=java_truststore,
        )

    def lock_packages(self, distro: str) -> tuple[str, ...]:
        """Every package any base of ``distro`` needs, plus busybox for the debug tags."""
        out: list[str] = []
        for name in self.names_for(distro):
            for package in self.get(name, distro).packages:
                if package not in out:
                    out.append(package)
        out.append(BUSYBOX_PACKAGE)
        return tuple(out)
