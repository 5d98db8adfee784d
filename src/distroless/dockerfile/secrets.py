"""Build secrets: values a ``RUN`` step may read that never reach the image.

``distroless build --secret id=NAME,src=FILE`` (or ``env=VAR``) hands a value to the build;
``RUN --mount=type=secret,id=NAME`` shows it to that one step, as a read-only file or an
environment variable.  The value is held here, in memory, only for the duration of the
build: it is not part of the image config, the history or the build-cache key (a changed
secret value does not invalidate a cached step, as with BuildKit; ``--no-cache`` reruns it).

Build args are not secrets: like docker, a ``RUN`` step's history records the ARG values
it sees, so passwords and tokens belong in ``--secret``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from distroless.dockerfile.csv_options import csv_options
from distroless.errors import UsageError

#: Secrets are small (keys, tokens); a larger value is almost certainly the wrong file.
MAX_SECRET_BYTES = 500 * 1024


@dataclass(frozen=True)
class BuildSecret:
    """One ``--secret``: its id and value.  The value is kept out of ``repr`` on purpose."""

    id: str
    value: bytes = field(repr=False)


def _fields(spec: str) -> dict[str, str]:
    try:
        items = csv_options(spec)
    except ValueError:
        raise UsageError(
            f"invalid --secret {spec!r}: expected id=NAME[,src=FILE|env=VAR]"
        ) from None
    out: dict[str, str] = {}
    for item, written, value in items:
        if value is None or not written:
            raise UsageError(f"invalid --secret {spec!r}: {item!r} is not KEY=VALUE")
        key = "src" if written == "source" else written
        if key not in ("id", "src", "env", "type"):
            raise UsageError(f"invalid --secret {spec!r}: unknown option {key!r}")
        out[key] = value
    return out


def _read_file(secret_id: str, path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_SECRET_BYTES:
            raise UsageError(
                f"secret {secret_id!r}: {path} is {size} bytes, more than the "
                f"{MAX_SECRET_BYTES} a secret may hold"
            )
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"secret {secret_id!r}: cannot read {path}: {exc.strerror}") from None


def parse_secret(spec: str, environ: Mapping[str, str] | None = None) -> BuildSecret:
    """``id=NAME[,src=FILE][,env=VAR][,type=file|env]``, BuildKit's ``--secret`` syntax.

    ``src`` reads a file, ``env`` a variable of ``environ`` (default: this process's
    environment).  With neither, the variable named like the id is used when it is set.
    """
    env_map = os.environ if environ is None else environ
    fields = _fields(spec)
    secret_id = fields.get("id", "")
    if not secret_id:
        raise UsageError(f"invalid --secret {spec!r}: id=NAME is required")
    kind = fields.get("type")
    if kind not in (None, "file", "env"):
        raise UsageError(f"invalid --secret {spec!r}: type must be 'file' or 'env'")
    src, var = fields.get("src"), fields.get("env")
    if src is not None and var is not None:
        raise UsageError(f"invalid --secret {spec!r}: give src= or env=, not both")
    if kind == "env" and var is None:
        var = src or secret_id
        src = None
    if kind == "file" and src is None:
        src = secret_id
    if src is None and var is None:
        if secret_id not in env_map:
            raise UsageError(
                f"secret {secret_id!r}: give src=FILE or env=VAR (no variable {secret_id} is set)"
            )
        var = secret_id
    if src is not None:
        return BuildSecret(secret_id, _read_file(secret_id, Path(src).expanduser()))
    assert var is not None
    if var not in env_map:
        raise UsageError(f"secret {secret_id!r}: the environment variable {var} is not set")
    return BuildSecret(secret_id, env_map[var].encode())


def load_secrets(
    specs: Iterable[str], environ: Mapping[str, str] | None = None
) -> dict[str, BuildSecret]:
    """Every ``--secret`` by id; giving one id twice is a usage error."""
    out: dict[str, BuildSecret] = {}
    for spec in specs:
        secret = parse_secret(spec, environ)
        if secret.id in out:
            raise UsageError(f"secret {secret.id!r} is given more than once")
        out[secret.id] = secret
    return out


__all__ = ["MAX_SECRET_BYTES", "BuildSecret", "load_secrets", "parse_secret"]
