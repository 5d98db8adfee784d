"""``RUN --mount=`` as the parser reads it: one frozen type per mount kind.

A mount that is wrong whatever the stage holds (no target, a secret without a name, a mode
that is no number) is refused when the Dockerfile is read, in every stage, built or not.
What depends on the build is checked when the step runs: ``$VAR`` values (BuildKit expands
every value, ``type=`` included, so only their expansion can be judged: the step parses the
flag again with each value expanded, :func:`parse_mount` with ``expand``), targets relative
to ``WORKDIR``, and what the build was not given (a ``required`` SSH agent no ``--ssh``
forwards), which is no mistake in the Dockerfile.  A
``type=$VAR`` mount is a :class:`PendingMount` until then.

Values keep BuildKit's spellings: ``target``/``dst``/``destination``, ``source``/``src``,
``ro``/``readonly``, ``rw``/``readwrite``; the first of a repeated option counts, a bare
option means ``true``.  Options no field models (``sharing=``, ``size=``) are accepted and
have no effect.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from distroless.dockerfile.csv_options import csv_options
from distroless.errors import DockerfileError

#: What a boolean option counts as true for (a bare ``ro`` reads as ``true``).
_TRUTHY = ("", "true", "1")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, kw_only=True)
class CacheMount:
    """A directory kept between builds, outside the image and the cache key."""

    type: ClassVar[str] = "cache"
    #: as written; ``$VAR`` is expanded and a relative path joins ``WORKDIR`` when it runs
    target: str
    #: the cache's name (``id=``); without one, the expanded target names it
    id: str | None = None
    readonly: bool = False
    #: ``from=``: a stage name, stage index or image (the stage graph follows it)
    source_stage: str | None = None


@dataclass(frozen=True, kw_only=True)
class BindMount:
    """A path of the build context, read-only unless ``rw`` (then a throwaway copy)."""

    type: ClassVar[str] = "bind"
    target: str
    source: str = "."
    readwrite: bool = False
    source_stage: str | None = None


@dataclass(frozen=True, kw_only=True)
class TmpfsMount:
    """An empty scratch directory for the step."""

    type: ClassVar[str] = "tmpfs"
    target: str
    source_stage: str | None = None


@dataclass(frozen=True, kw_only=True)
class SecretMount:
    """A ``--secret`` value shown to the step as a file, a variable, or both.

    ``id``, ``mode``, ``uid`` and ``gid`` are kept as written: a value holding ``$`` is
    judged only when the step runs (:func:`secret_numbers`).
    """

    type: ClassVar[str] = "secret"
    id: str | None = None
    target: str | None = None
    env: str | None = None
    required: bool = False
    mode: str | None = None
    uid: str | None = None
    gid: str | None = None
    source_stage: str | None = None

    @property
    def secret_id(self) -> str:
        """The secret asked for: ``id=``, or the target's file name (BuildKit's default)."""
        return self.id or posixpath.basename(self.target or "")


@dataclass(frozen=True, kw_only=True)
class SshMount:
    """An SSH agent socket forwarded from the client (``build --ssh``), as BuildKit mounts one.

    Without a forwarded agent of that id the step runs without the socket (BuildKit's
    behaviour when the client forwards none); ``required`` makes that an error instead.
    ``target`` None is BuildKit's default, ``/run/buildkit/ssh_agent.N``.
    """

    type: ClassVar[str] = "ssh"
    #: the agent asked for (``id=``); BuildKit's default is ``default``
    id: str = "default"
    target: str | None = None
    required: bool = False
    source_stage: str | None = None


@dataclass(frozen=True, kw_only=True)
class PendingMount:
    """A mount whose ``type=`` holds a variable: its kind is known only when the step runs."""

    type: ClassVar[str] = "pending"
    source_stage: str | None = None


Mount = CacheMount | BindMount | TmpfsMount | SecretMount | SshMount | PendingMount
"""One ``RUN --mount=`` specification, typed by its ``type=``."""


def parse_mount(spec: str, expand: Callable[[str], str] | None = None) -> Mount:
    """``type=cache,target=/x,from=builder`` (one CSV record, like docker) as its type.

    With ``expand``, every ``key=value`` value is expanded first (the step's reading);
    without, a ``type=`` holding ``$`` gives a :class:`PendingMount`.  Raises
    :class:`DockerfileError` without a location; the caller adds it.
    """
    try:
        items = csv_options(spec)
    except ValueError:
        raise DockerfileError(f"invalid mount specification {spec!r}") from None
    mount_type = written = "bind"
    options: dict[str, str] = {}
    for item in items:
        if not item.key:
            raise DockerfileError(f"invalid mount specification {spec!r}: empty option")
        value = item.value
        if value is not None and expand is not None:
            value = expand(value)
        if item.key == "type":
            written = value or ""
            mount_type = written.lower()
            continue
        options.setdefault(item.key, "true" if value is None else value)
    if expand is None and "$" in mount_type:
        return PendingMount(source_stage=options.get("from"))
    make = _KINDS.get(mount_type)
    if make is None:
        raise DockerfileError(f"unsupported mount type {written!r} in {spec!r}")
    return make(options)


def check_secret_env(name: str) -> None:
    """ValueError unless ``env=`` names a variable a step can be given."""
    if not _VARIABLE_NAME.fullmatch(name):
        raise ValueError(f"RUN --mount=type=secret,env={name}: not a variable name")


def secret_numbers(mount: SecretMount) -> tuple[int, int, int]:
    """The secret file's mode, uid and gid; ValueError naming the first that is no number."""
    mode, uid, gid = (
        _number(key, getattr(mount, key), default, base) for key, default, base in _NUMBERS
    )
    return mode & 0o7777, uid, gid


#: the numeric options of a secret mount: name, default, base
_NUMBERS = (("mode", 0o400, 8), ("uid", 0, 10), ("gid", 0, 10))


def _number(key: str, raw: str | None, default: int, base: int) -> int:
    try:
        return default if raw is None else int(raw, base)
    except ValueError:
        raise ValueError(f"RUN --mount=type=secret,{key}={raw}: not a number") from None


def _target(options: Mapping[str, str]) -> str | None:
    return options.get("target") or options.get("dst") or options.get("destination")


def _needs_target(kind: str, options: Mapping[str, str]) -> str:
    target = _target(options)
    if not target:
        raise DockerfileError(f"RUN --mount=type={kind} needs target=PATH")
    return target


def _cache(options: Mapping[str, str]) -> Mount:
    readonly = any((options.get(k) or "false").lower() in _TRUTHY for k in ("ro", "readonly"))
    return CacheMount(
        target=_needs_target("cache", options),
        id=options.get("id"),
        readonly=readonly,
        source_stage=options.get("from"),
    )


def _bind(options: Mapping[str, str]) -> Mount:
    readwrite = (options.get("rw") or options.get("readwrite") or "false").lower() in _TRUTHY
    return BindMount(
        target=_needs_target("bind", options),
        source=options.get("source") or options.get("src") or ".",
        readwrite=readwrite,
        source_stage=options.get("from"),
    )


def _tmpfs(options: Mapping[str, str]) -> Mount:
    return TmpfsMount(target=_needs_target("tmpfs", options), source_stage=options.get("from"))


def _secret(options: Mapping[str, str]) -> Mount:
    mount = SecretMount(
        id=options.get("id"),
        target=_target(options),
        env=options.get("env"),
        required=(options.get("required") or "false").lower() in _TRUTHY,
        mode=options.get("mode"),
        uid=options.get("uid"),
        gid=options.get("gid"),
        source_stage=options.get("from"),
    )
    if not mount.id and not mount.target:
        raise DockerfileError("RUN --mount=type=secret needs id=NAME")
    target = mount.target
    if target is not None and "$" not in target and posixpath.normpath(target) == "/":
        raise DockerfileError("a secret cannot be mounted over /")
    try:
        if mount.env is not None and "$" not in mount.env:
            check_secret_env(mount.env)
        for key, default, base in _NUMBERS:
            raw = getattr(mount, key)
            if raw is not None and "$" not in raw:
                _number(key, raw, default, base)
    except ValueError as exc:
        raise DockerfileError(str(exc)) from None
    return mount


def _ssh(options: Mapping[str, str]) -> Mount:
    if options.get("source") or options.get("src"):
        raise DockerfileError("RUN --mount=type=ssh takes no source (name the agent with id=)")
    return SshMount(
        id=options.get("id") or "default",
        target=_target(options),
        required=(options.get("required") or "false").lower() in _TRUTHY,
        source_stage=options.get("from"),
    )


_KINDS: dict[str, Callable[[Mapping[str, str]], Mount]] = {
    "bind": _bind,
    "cache": _cache,
    "tmpfs": _tmpfs,
    "secret": _secret,
    "ssh": _ssh,
}
