"""Reading ``image.yaml`` into an :class:`ImageSpec`, with errors that point at a line."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from distroless.errors import SpecError
from distroless.modes import ModeError, parse_octal_mode
from distroless.rootpath import SymlinkLoopError, host_path_in_root
from distroless.spec.model import DISTROS, FileItem, ImageSpec, PythonSpec
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


Duration = Annotated[str, Field(pattern=r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$|^0$")]


class _Python(_Strict):
    requirements: str | None = None
    pyproject: str | None = None
    version: str | None = None


class _Healthcheck(_Strict):
    test: list[str] | str
    interval: Duration | None = None
    timeout: Duration | None = None
    start_period: Duration | None = None
    start_interval: Duration | None = None
    retries: Annotated[int, Field(ge=0)] | None = None


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
    management_packages: list[str] | None = None
    python: _Python | None = None
    expose: list[str | int] = Field(default_factory=list)
    volumes: list[str] = Field(default_factory=list)
    stopsignal: str | int = ""
    healthcheck: _Healthcheck | Literal["none"] | None = None


_UNITS_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")
_PORT = re.compile(r"^([0-9]{1,5})(?:/(tcp|udp|sctp))?$")
_PYTHON_VERSION = re.compile(r"^3\.[0-9]{1,2}$")


def _nanoseconds(text: str) -> int:
    """A Go-style duration (``30s``, ``1m30s``) in nanoseconds, as docker's config keeps it."""
    return int(sum(float(n) * _UNITS_NS[unit] for n, unit in _DURATION_PART.findall(text)))


def _healthcheck(raw: _Healthcheck | str | None) -> tuple[tuple[str, object], ...] | None:
    """docker's ``Healthcheck``: a list runs as is (``CMD``), a string through a shell."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return (("Test", ("NONE",)),)
    if isinstance(raw.test, str):
        test: tuple[str, ...] = ("CMD-SHELL", raw.test)
    elif raw.test and raw.test[0] in ("CMD", "CMD-SHELL", "NONE"):
        test = tuple(raw.test)
    else:
        test = ("CMD", *raw.test)
    out: list[tuple[str, object]] = [("Test", test)]
    for key, value in (
        ("Interval", raw.interval),
        ("Timeout", raw.timeout),
        ("StartPeriod", raw.start_period),
        ("StartInterval", raw.start_interval),
    ):
        if value is not None:
            out.append((key, _nanoseconds(value)))
    if raw.retries is not None:
        out.append(("Retries", raw.retries))
    return tuple(out)


def _ports(values: list[str | int], where: str) -> tuple[str, ...]:
    """``8080``, ``"8080/udp"`` -> ``8080/tcp``, ``8080/udp`` (docker's ExposedPorts keys)."""
    out = []
    for value in values:
        match = _PORT.match(str(value))
        if match is None or not 0 < int(match.group(1)) < 65536:
            raise SpecError(f"{where}: expose {value!r} is not a port (8080 or 8080/udp)")
        out.append(f"{int(match.group(1))}/{match.group(2) or 'tcp'}")
    return tuple(sorted(set(out)))


def _python(raw: _Python | None, path: Path, where: str) -> PythonSpec | None:
    if raw is None:
        return None
    if (raw.requirements is None) == (raw.pyproject is None):
        raise SpecError(f"{where}: python needs exactly one of requirements or pyproject")
    if raw.version is not None and not _PYTHON_VERSION.match(raw.version):
        raise SpecError(f"{where}: python version {raw.version!r} is not like 3.13")
    given = raw.requirements or raw.pyproject
    assert given is not None
    file = _source_in(path.parent, given, where, f"python {given!r}")
    if not file.is_file():
        raise SpecError(f"{where}: python {given!r} is not a file ({file})")
    return PythonSpec(
        requirements=file if raw.requirements is not None else None,
        pyproject=file if raw.pyproject is not None else None,
        version=raw.version,
    )


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
        src = (
            _source_in(path.parent, item.src, where, f"files entry src {item.src!r}")
            if item.src is not None
            else None
        )
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
    for volume in raw.volumes:
        if not volume.startswith("/"):
            where = f"{path}:{line_for(lines, ('volumes',)) or '?'}"
            raise SpecError(f"{where}: volume {volume!r} must be an absolute path in the image")
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
        management_packages=(
            tuple(raw.management_packages) if raw.management_packages is not None else None
        ),
        python=_python(raw.python, path, f"{path}:{line_for(lines, ('python',)) or '?'}"),
        expose=_ports(raw.expose, f"{path}:{line_for(lines, ('expose',)) or '?'}"),
        volumes=tuple(sorted({posixpath.normpath(v) for v in raw.volumes})),
        stopsignal=str(raw.stopsignal),
        healthcheck=_healthcheck(raw.healthcheck),
        base_line=line_for(lines, ("base",)) or 0,
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


def _source_in(directory: Path, name: str, where: str, what: str) -> Path:
    """The host file a spec names (``files: src:``, ``python:``): inside the spec's own
    directory, always.

    A spec is untrusted input as a Dockerfile is (a pull request can change either), so its
    directory is to it what the build context is to a Dockerfile: a name may not leave it,
    and a symlink in it is resolved inside it (a link to ``/etc/shadow`` means
    ``<spec dir>/etc/shadow``), through the one resolver."""
    clean = posixpath.normpath(name)
    if clean.startswith("/") or clean == ".." or clean.startswith("../"):
        raise SpecError(
            f"{where}: {what} is outside the spec's directory (name a file in or below it)"
        )
    try:
        return host_path_in_root(directory.absolute(), clean)
    except SymlinkLoopError:
        raise SpecError(f"{where}: {what}: too many symbolic links") from None


__all__ = ["DISTROS", "load_spec", "parse_spec"]
