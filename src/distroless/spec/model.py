"""The validated image spec: what a user asks for, before anything is resolved or built.

Pydantic checks the YAML at the boundary (unknown keys and wrong types are errors with
a line number); the rest of the code sees frozen dataclasses only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DISTROS = {"debian13": "trixie", "debian12": "bookworm"}


@dataclass(frozen=True)
class FileItem:
    """One ``files:`` entry: a copied path, inline content, a directory or a symlink."""

    dst: str
    src: Path | None = None
    content: str | None = None
    symlink: str | None = None
    directory: bool = False
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    #: also add the libraries the file (an ELF program) loads, from the host
    closure: bool = False


@dataclass(frozen=True)
class PythonSpec:
    """The ``python:`` key: the application's dependencies, installed as wheels.

    Exactly one of ``requirements`` (a requirements file) and ``pyproject`` (the
    ``[project] dependencies`` of a ``pyproject.toml``) is set; ``version`` is the Python
    the spec expects (``3.13``), checked against the base's; None takes the base's.
    """

    requirements: Path | None = None
    pyproject: Path | None = None
    version: str | None = None

    @property
    def source(self) -> Path:
        found = self.requirements or self.pyproject
        assert found is not None
        return found


@dataclass(frozen=True)
class ImageSpec:
    path: Path
    base: str = "scratch"
    distro: str = "debian13"
    archs: tuple[str, ...] = ()
    repositories: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    resolve: bool = True
    files: tuple[FileItem, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()
    workdir: str = ""
    user: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = field(default=())
    #: None: the built-in list (distroless.debian.management); else the spec's own
    management_packages: tuple[str, ...] | None = None
    python: PythonSpec | None = None
    expose: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stopsignal: str = ""
    #: docker's config ``Healthcheck`` object (``Test``, durations in nanoseconds)
    healthcheck: tuple[tuple[str, object], ...] | None = None
    #: 1-based line of ``base:`` in the file, for messages about the base
    base_line: int = 0

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def suite(self) -> str:
        return DISTROS[self.distro]

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".lock.json")
