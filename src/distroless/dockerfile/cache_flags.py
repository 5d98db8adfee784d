"""``--cache-to`` and ``--cache-from`` as BuildKit writes them: ``type=registry,ref=R`` or
``type=local,dest=DIR`` / ``type=local,src=DIR``, with ``mode=min|max`` for an export.

The flags are checked here, before a store is touched, so a typo is a usage error and not
a build that quietly runs without its cache.  Keys BuildKit knows but this builder has no
use for (``compression``, ``oci-mediatypes``, ``ignore-error`` …) are refused by name,
rather than accepted and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from distroless.dockerfile.csv_options import key_values
from distroless.errors import ReferenceFormatError, UsageError
from distroless.oci.reference import Reference

CacheMode = Literal["min", "max"]


@dataclass(frozen=True)
class CacheLocation:
    """Where a shared build cache lives: a registry reference or a local directory.

    ``mode`` matters only to an export: ``min`` keeps the steps of the stages the final
    image is made of, ``max`` every stage built.
    """

    type: Literal["registry", "local"]
    ref: str | None = None
    path: Path | None = None
    mode: CacheMode = "min"

    def __str__(self) -> str:
        return self.ref if self.ref is not None else str(self.path)


def parse_cache_to(text: str) -> CacheLocation:
    return _parse(text, "--cache-to", "dest")


def parse_cache_from(text: str) -> CacheLocation:
    return _parse(text, "--cache-from", "src")


def _parse(text: str, flag: str, dir_key: str) -> CacheLocation:
    if text and "=" not in text and "," not in text:
        text = f"type=registry,ref={text}"  # BuildKit's short form: a bare reference
    values = key_values(text, flag)
    kind = values.pop("type", None)
    if kind is None:
        raise UsageError(f"invalid {flag} {text!r}: give type=registry or type=local")
    allowed = {"registry": {"ref"}, "local": {dir_key}}.get(kind)
    if allowed is None:
        raise UsageError(
            f"invalid {flag} {text!r}: type {kind!r} is not supported (registry or local)"
        )
    if flag == "--cache-to":
        allowed = allowed | {"mode"}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise UsageError(f"invalid {flag} {text!r}: unknown key {unknown[0]!r} for type={kind}")
    mode = values.get("mode", "min")
    if mode not in ("min", "max"):
        raise UsageError(f"invalid {flag} {text!r}: mode is min or max, not {mode!r}")
    if kind == "registry":
        ref = values.get("ref", "")
        if not ref:
            raise UsageError(f"invalid {flag} {text!r}: type=registry needs ref=REGISTRY/REPO:TAG")
        try:
            parsed = Reference.parse(ref)
        except ReferenceFormatError as exc:
            raise UsageError(f"invalid {flag} {text!r}: {exc.message}") from None
        return CacheLocation("registry", ref=str(parsed), mode=mode)  # type: ignore[arg-type]
    where = values.get(dir_key, "")
    if not where:
        raise UsageError(f"invalid {flag} {text!r}: type=local needs {dir_key}=DIRECTORY")
    return CacheLocation("local", path=Path(where), mode=mode)  # type: ignore[arg-type]
