"""``--output`` values as buildx reads them: ``type=local,dest=DIR`` or a bare ``DIR``.

A value is one CSV record of ``key=value`` items (``key_values``), so a destination
holding a comma is quoted.  A value with no ``=`` at all is a directory (buildx's
shorthand for ``type=local``), and ``-`` alone is ``type=tar`` on stdout, as in buildx.
Everything is checked here, before the build starts, so a bad value leaves the store
untouched.

``type=registry[,name=REF]`` and ``type=image,push=true[,name=REF]`` (buildx's two spellings
of ``--push``) push the image with its referrers; they have no ``dest``.  ``type=image``
without ``push`` is the store, where every build goes anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from distroless.dockerfile.csv_options import key_values
from distroless.errors import UsageError

OutputType = Literal["local", "tar", "oci", "docker", "registry", "image"]
OUTPUT_TYPES: tuple[OutputType, ...] = ("local", "tar", "oci", "docker", "registry", "image")
#: the types that write no file: they push (or just store) the image
_PUSH_TYPES = frozenset({"registry", "image"})
#: the keys each type takes besides ``type`` and ``dest``
_EXTRA_KEYS: dict[str, frozenset[str]] = {
    "local": frozenset(),
    "tar": frozenset(),
    "oci": frozenset({"name"}),
    "docker": frozenset({"name"}),
    "registry": frozenset({"name", "push"}),
    "image": frozenset({"name", "push"}),
}
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
STDOUT = "-"


@dataclass(frozen=True)
class OutputSpec:
    """One ``--output``: its type, its destination (``-`` is stdout for the archive
    types) and, for image archives, the names to record (``name=a,b``; the build's
    ``-t`` names when not given)."""

    type: OutputType
    dest: str
    names: tuple[str, ...] = ()
    #: push the image, its tags and its referrers (``type=registry``, ``push=true``)
    push: bool = False

    @property
    def to_stdout(self) -> bool:
        return self.dest == STDOUT

    @property
    def writes_file(self) -> bool:
        """Whether this output is a file or directory (not a push, not the store)."""
        return self.type not in _PUSH_TYPES

    @property
    def path(self) -> Path:
        return Path(self.dest)


def parse_output(text: str) -> OutputSpec:
    """The exporter ``text`` names; :class:`UsageError` (one line) when it names none."""
    if text == STDOUT:
        return OutputSpec("tar", STDOUT)
    if "=" not in text and "," not in text:
        if not text:
            raise UsageError("invalid --output '': give type=TYPE,dest=PATH or a directory")
        return OutputSpec("local", text)
    values = key_values(text, "--output")
    kind = values.pop("type", None)
    if kind is None:
        raise UsageError(f"invalid --output {text!r}: missing type= ({', '.join(OUTPUT_TYPES)})")
    kind = kind.lower()
    if kind not in OUTPUT_TYPES:
        raise UsageError(
            f"invalid --output {text!r}: unknown type {kind!r} (the types are "
            f"{', '.join(OUTPUT_TYPES)})"
        )
    if kind in _PUSH_TYPES:
        return _push_output(text, kind, values)
    dest = values.pop("dest", "")
    if not dest:
        raise UsageError(f"invalid --output {text!r}: type={kind} needs dest=")
    if kind == "local" and dest == STDOUT:
        raise UsageError(f"invalid --output {text!r}: type=local writes a directory, not stdout")
    unknown = sorted(set(values) - _EXTRA_KEYS[kind])
    if unknown:
        raise UsageError(f"invalid --output {text!r}: type={kind} takes no {unknown[0]}=")
    names = tuple(n for n in values.get("name", "").split(",") if n)
    return OutputSpec(kind, dest, names)


def _push_output(text: str, kind: OutputType, values: dict[str, str]) -> OutputSpec:
    unknown = sorted(set(values) - _EXTRA_KEYS[kind])
    if unknown:
        raise UsageError(f"invalid --output {text!r}: type={kind} takes no {unknown[0]}=")
    push = kind == "registry"
    if "push" in values:
        value = _BOOLEANS.get(values["push"].lower())
        if value is None:
            raise UsageError(f"invalid --output {text!r}: push= is true or false")
        push = value
    names = tuple(n for n in values.get("name", "").split(",") if n)
    if names and not push:
        raise UsageError(
            f"invalid --output {text!r}: name= without push=true names nothing; "
            "tag the stored image with -t"
        )
    return OutputSpec(kind, "", names, push=push)


def check_destinations(outputs: tuple[OutputSpec, ...]) -> None:
    """At most one output may take stdout, and a file destination must not be a directory
    (checked before the build, as buildx does)."""
    if sum(o.to_stdout for o in outputs) > 1:
        raise UsageError("only one --output can write to stdout")
    for out in outputs:
        if not out.writes_file:
            continue
        if out.type != "local" and not out.to_stdout and out.path.is_dir():
            raise UsageError(f"--output type={out.type}: dest {out.dest!r} is a directory")
        if out.type == "local" and out.path.exists() and not out.path.is_dir():
            raise UsageError(f"--output type=local: dest {out.dest!r} is not a directory")
