"""The user's configuration: registry mirrors, insecure registries and stored logins.

Two files live under ``$XDG_CONFIG_HOME/distroless``:

* ``config.toml`` (written by the user, read here once and validated at this boundary)::

      [registry."<registry host>"]
      mirrors = ["127.0.0.1:5000", "https://<mirror host>"]

      [registry."<another host>:5000"]
      insecure = true

      [aliases]
      "golang:1.22" = "distroless/builder-go:1.24-debian13"

* ``auth.json`` (written by ``distroless login``), in the same ``auths`` shape as
  docker's ``config.json`` so that one parser reads both; it is created with mode 0600
  because it holds passwords.

Nothing here reads the files at import time: callers pass or build a :class:`UserConfig`,
which keeps library users and tests free of the user's home directory.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distroless.errors import InputError, ReferenceFormatError
from distroless.oci.reference import Reference


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/distroless`` (``~/.config/distroless`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "distroless"


def config_path() -> Path:
    return config_dir() / "config.toml"


def auth_path() -> Path:
    return config_dir() / "auth.json"


@functools.cache
def _config_model() -> type[Any]:
    """The pydantic model of ``config.toml``, built on first use: most commands run without a
    config file, and building models costs a tenth of a second of start-up."""
    from pydantic import BaseModel, ConfigDict, Field

    class RegistryModel(BaseModel):
        model_config = ConfigDict(extra="forbid", populate_by_name=True)

        mirrors: list[str] = Field(default_factory=list)
        insecure: bool = False

    class ConfigModel(BaseModel):
        model_config = ConfigDict(extra="forbid")

        registry: dict[str, RegistryModel] = Field(default_factory=dict)
        aliases: dict[str, str] = Field(default_factory=dict)

    return ConfigModel


def _normalise_host(host: str) -> str:
    """Registry keys as references name them (legacy aliases of the default registry)."""
    if "." in host or ":" in host:
        try:
            return Reference.parse(f"{host}/x").registry
        except ReferenceFormatError:
            raise InputError(f"config: {host!r} is not a registry host[:port]") from None
    return host


@dataclass(frozen=True)
class RegistrySettings:
    """What the user said about one registry host."""

    mirrors: tuple[str, ...] = ()
    insecure: bool = False


def alias_key(image: str) -> str:
    """How ``[aliases]`` keys and ``FROM`` names are compared: docker's short form, tagged."""
    ref = Reference.parse(image)
    if ref.tag is None and ref.digest is None:
        ref = ref.with_tag("latest")
    return ref.familiar()


def _aliases(data: Mapping[str, str], source: str) -> dict[str, str]:
    """``[aliases]``: image name -> the image a ``FROM`` of that name uses instead."""
    out: dict[str, str] = {}
    for name, target in data.items():
        try:
            key, value = alias_key(name), alias_key(target)
        except ReferenceFormatError as exc:
            raise InputError(f"{source}: [aliases] {name!r}: {exc}") from None
        if "@" in key:
            raise InputError(f"{source}: [aliases] {name!r}: an alias name cannot be a digest")
        if key == value:
            raise InputError(f"{source}: [aliases] {name!r} names itself")
        out[key] = value
    return out


@dataclass(frozen=True)
class UserConfig:
    """The validated ``config.toml``; an empty one when the file does not exist."""

    registries: Mapping[str, RegistrySettings] = field(default_factory=dict)
    #: ``alias_key(name)`` -> image: explicit stand-ins for ``FROM`` names (never implied)
    aliases: Mapping[str, str] = field(default_factory=dict)

    def alias_for(self, image: str) -> str | None:
        """The image the user's ``[aliases]`` put in place of ``image``, if any."""
        try:
            return self.aliases.get(alias_key(image))
        except ReferenceFormatError:
            return None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> UserConfig:
        from pydantic import ValidationError

        try:
            model = _config_model().model_validate(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InputError(f"{source}: invalid value at {where}: {first['msg']}") from None
        return cls(
            registries={
                _normalise_host(host): RegistrySettings(
                    mirrors=tuple(r.mirrors), insecure=r.insecure
                )
                for host, r in model.registry.items()
            },
            aliases=_aliases(model.aliases, source),
        )

    @classmethod
    def load(cls, path: Path | None = None) -> UserConfig:
        """Read ``config.toml`` (default location unless ``path`` is given)."""
        path = path or config_path()
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            return cls()
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{path}: not valid TOML ({exc})") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
        return cls.from_dict(data, source=str(path))

    def settings(self, host: str) -> RegistrySettings:
        return self.registries.get(host, RegistrySettings())

    def mirrors_for(self, host: str) -> tuple[str, ...]:
        return self.settings(host).mirrors

    def is_insecure(self, host: str) -> bool:
        """True if ``host`` is marked insecure itself or appears as an insecure mirror entry."""
        if self.settings(host).insecure:
            return True
        return any(s.insecure and host in s.mirrors for s in self.registries.values())

    def with_mirrors(self, host: str, mirrors: tuple[str, ...]) -> UserConfig:
        """A copy whose ``host`` has ``mirrors`` in front (for ``--registry-mirror``)."""
        current = self.settings(host)
        merged = tuple(dict.fromkeys((*mirrors, *current.mirrors)))
        regs = dict(self.registries)
        regs[host] = RegistrySettings(mirrors=merged, insecure=current.insecure)
        return UserConfig(registries=regs, aliases=self.aliases)

    def with_insecure(self, *hosts: str) -> UserConfig:
        regs = dict(self.registries)
        for host in hosts:
            current = regs.get(host, RegistrySettings())
            regs[host] = RegistrySettings(mirrors=current.mirrors, insecure=True)
        return UserConfig(registries=regs, aliases=self.aliases)


@dataclass(frozen=True)
class Login:
    username: str
    password: str


def _read_auths(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def load_logins(path: Path | None = None) -> dict[str, Login]:
    """The credentials saved by ``distroless login``, by registry host."""
    path = path or auth_path()
    out: dict[str, Login] = {}
    auths = _read_auths(path).get("auths") or {}
    for host, entry in auths.items():
        encoded = entry.get("auth") if isinstance(entry, dict) else None
        if not isinstance(encoded, str):
            continue
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise InputError(f"{path}: the entry for {host} is not valid base64") from None
        out[host] = Login(user, password)
    return out


def _write_auths(path: Path, data: dict[str, Any]) -> None:
    """Replace the file atomically, never leaving it readable by others even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".auth-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_login(host: str, login: Login, path: Path | None = None) -> Path:
    path = path or auth_path()
    data = _read_auths(path)
    auths = data.setdefault("auths", {})
    token = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
    auths[host] = {"auth": token}
    _write_auths(path, data)
    return path


def remove_login(host: str, path: Path | None = None) -> bool:
    """Forget ``host``; False when there was nothing to forget."""
    path = path or auth_path()
    data = _read_auths(path)
    auths = data.get("auths") or {}
    if host not in auths:
        return False
    del auths[host]
    _write_auths(path, data)
    return True
