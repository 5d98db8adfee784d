"""Reading ``image.yaml`` into an :class:`ImageSpec`, with errors that point at a line."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from distroless.errors import SpecError
from distroless.modes import ModeError, parse_octal_mode
from distroless.spec.model import DISTROS, FileItem, ImageSpec
from distroless.spec.yamlpos import line_for, load_with_lines

Arch = Literal["amd64", "arm64", "armhf", "armel", "i386", "ppc64el", "riscv64", "s390x"]
Mode = Annotated[int, Field(ge=0, le=0o7777)]
Id = Annotated[int, Field(ge=0, le=2**31 - 1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _File(_Strict):
    dst: str
    src: str | None = None
    content: str | None = None
    symlink: str | None = None
    type: Literal["file", "directory"] | None = None
    mode: Mode | str | None = None
    uid: Id = 0
    gid: Id = 0
    closure: bool = False

    @field_validator("dst")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must be an absolute path in the image")
        return value


class _Spec(_Strict):
    base: str = "scratch"
    distro: Literal["debian13", "debian12"] = "debian13"
    archs: list[Arch] = Field(default_factory=list)
    repositories: list[str] = Field(default_factory=list)
    packages: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    resolve: bool = True
    files: list[_File] = Field(default_factory=list)
    entrypoint: list[str] | str | None = None
    cmd: list[str] | str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    workdir: str = ""
    user: str | int = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)


def _mode(value: int | str | None, where: str) -> int | None:
    """Modes may be YAML ints (0755 reads as octal in YAML 1.1) or strings like "0755"."""
    if value is None or isinstance(value, int):
        return value
    try:
        return parse_octal_mode(value)
    except ModeError as exc:
        problem = "is out of range" if exc.out_of_range else "is not an octal number"
        raise SpecError(f"{where}: mode {value!r} {problem}") from None


def _argv(value: list[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def _describe(error: ErrorDetails) -> str:
    kind = error["type"]
    key = ".".join(str(p) for p in error["loc"])
    if kind == "extra_forbidden":
        return f"unknown key {key!r}"
    if kind == "missing":
        return f"missing key {key!r}"
    return f"key {key!r}: {error['msg']}"


def parse_spec(text: str, path: Path) -> ImageSpec:
    """Validate spec ``text`` read from ``path`` (paths in it are relative to that file)."""
    data, lines = load_with_lines(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{path}:1: the spec must be a mapping of keys")
    try:
        raw = _Spec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        # pydantic reports union members as extra loc parts; keep the data path only
        data_loc = tuple(p for p in loc if isinstance(p, int) or p in _known_keys(data, loc))
        line = line_for(lines, data_loc or loc)
        where = f"{path}:{line}" if line else str(path)
        raise SpecError(f"{where}: {_describe(first)}") from None
    files = []
    for i, item in enumerate(raw.files):
        where = f"{path}:{line_for(lines, ('files', i)) or '?'}"
        kinds = [item.src is not None, item.content is not None, item.symlink is not None]
        if item.type == "directory":
            kinds.append(True)
        if sum(kinds) != 1:
            raise SpecError(
                f"{where}: files entry {item.dst!r} needs exactly one of src, content, "
                "symlink or type: directory"
            )
        src = (path.parent / item.src).resolve() if item.src is not None else None
        if src is not None and not src.exists():
            raise SpecError(f"{where}: files entry src {item.src!r} does not exist ({src})")
        if item.closure and (src is None or not src.is_file()):
            raise SpecError(f"{where}: files entry {item.dst!r}: closure needs a src file")
        files.append(
            FileItem(
                dst=posixpath.normpath(item.dst),
                src=src,
                content=item.content,
                symlink=item.symlink,
                directory=item.type == "directory",
                mode=_mode(item.mode, where),
                uid=item.uid,
                gid=item.gid,
                closure=item.closure,
            )
        )
    return ImageSpec(
        path=path,
        base=raw.base,
        distro=raw.distro,
        archs=tuple(dict.fromkeys(raw.archs)),
        repositories=tuple(raw.repositories),
        packages=tuple(raw.packages),
        exclude=tuple(raw.exclude),
        resolve=raw.resolve,
        files=tuple(files),
        entrypoint=_argv(raw.entrypoint),
        cmd=_argv(raw.cmd),
        env=tuple(raw.env.items()),
        workdir=raw.workdir,
        user=str(raw.user),
        labels=tuple(sorted(raw.labels.items())),
        annotations=tuple(sorted(raw.annotations.items())),
        tags=tuple(raw.tags),
    )


def _known_keys(data: Any, loc: tuple[Any, ...]) -> set[str]:
    """Keys that exist along ``loc`` in ``data`` (pydantic adds type names to union locs)."""
    keys: set[str] = set()
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            keys.add(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            if isinstance(part, str):
                keys.add(part)
            break
    return keys


def load_spec(path: Path) -> ImageSpec:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the spec ({exc})") from None
    return parse_spec(text, path.resolve())


__all__ = ["DISTROS", "load_spec", "parse_spec"]
