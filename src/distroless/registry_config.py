"""The user's configuration: registry mirrors, insecure registries and stored logins.

Two files live under ``$XDG_CONFIG_HOME/distroless``:

* ``config.toml`` (written by the user, read here once and validated at this boundary)::

      [registry."<registry host>"]
      mirrors = ["127.0.0.1:5000", "https://<mirror host>"]

      [registry."<another host>:5000"]
      insecure = true

      # which images may be used (pull, FROM, COPY --from): see docs/supply-chain.md
      [policy."<registry host>/team/*"]
      signed-by = "keys/team.pub"       # or a list; relative to this file's directory

      [policy."golang:*"]
      digest-pinned = true

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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distroless.errors import InputError, ReferenceFormatError
from distroless.oci.reference import DEFAULT_REGISTRY, Reference
from distroless.store.atomic import atomic_file


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
    from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

    class RegistryModel(BaseModel):
        model_config = ConfigDict(extra="forbid", populate_by_name=True)

        mirrors: list[str] = Field(default_factory=list)
        insecure: bool = False

    class PolicyModel(BaseModel):
        model_config = ConfigDict(extra="forbid", populate_by_name=True)

        signed_by: StrictStr | list[StrictStr] = Field(default_factory=list, alias="signed-by")
        digest_pinned: StrictBool = Field(default=False, alias="digest-pinned")

    class ConfigModel(BaseModel):
        model_config = ConfigDict(extra="forbid")

        registry: dict[str, RegistryModel] = Field(default_factory=dict)
        policy: dict[str, PolicyModel] = Field(default_factory=dict)
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


_GLOB = frozenset("*?[")


def _is_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


@dataclass(frozen=True)
class PolicyRule:
    """One ``[policy."PATTERN"]`` table: which images it covers and what they need.

    ``PATTERN`` is a glob over references, normalised like one: ``golang:*`` covers
    ``docker.io/library/golang`` with any tag, ``127.0.0.1:5000/team/*`` every repository
    below ``team`` of that registry, ``*`` everything.  ``*`` matches ``/`` too.  Without a
    tag part the rule covers every tag (and a reference by digest alone).
    """

    pattern: str
    signed_by: tuple[Path, ...] = ()
    digest_pinned: bool = False
    source: str = "config"

    @property
    def _parts(self) -> tuple[str, str | None]:
        pattern = self.pattern
        if pattern == "*":
            return "*", None
        tag: str | None = None
        slash, colon = pattern.rfind("/"), pattern.rfind(":")
        if colon > slash:
            pattern, tag = pattern[:colon], pattern[colon + 1 :]
        first, sep, _ = pattern.partition("/")
        if sep and _is_host(first):
            return pattern, tag
        # no registry: the default one, and one component is an official image, as docker has it
        return f"{DEFAULT_REGISTRY}/{pattern if sep else 'library/' + pattern}", tag

    def matches(self, reference: Reference) -> bool:
        import fnmatch

        name, tag = self._parts
        if not fnmatch.fnmatchcase(reference.name, name):
            return False
        return tag is None or reference.tag is None or fnmatch.fnmatchcase(reference.tag, tag)

    @property
    def specificity(self) -> int:
        """How much of the pattern is literal: the most specific matching rule applies."""
        name, tag = self._parts
        text = name + (":" + tag if tag is not None else "")
        return sum(1 for c in text if c not in _GLOB)

    def describe(self) -> str:
        needs = []
        if self.signed_by:
            needs.append("a signature by " + " or ".join(str(p) for p in self.signed_by))
        if self.digest_pinned:
            needs.append("a reference pinned by digest")
        return " and ".join(needs) or "nothing"


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
    policies: tuple[PolicyRule, ...] = ()
    #: ``alias_key(name)`` -> image: explicit stand-ins for ``FROM`` names (never implied)
    aliases: Mapping[str, str] = field(default_factory=dict)

    def alias_for(self, image: str) -> str | None:
        """The image the user's ``[aliases]`` put in place of ``image``, if any."""
        try:
            return self.aliases.get(alias_key(image))
        except ReferenceFormatError:
            return None

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], source: str = "config", base: Path | None = None
    ) -> UserConfig:
        """Validate ``data``; ``base`` is where relative key paths of the policy start."""
        from pydantic import ValidationError

        try:
            model = _config_model().model_validate(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InputError(f"{source}: invalid value at {where}: {first['msg']}") from None
        policies = []
        for pattern, rule in model.policy.items():
            keys = [rule.signed_by] if isinstance(rule.signed_by, str) else rule.signed_by
            if not pattern or pattern != pattern.strip():
                raise InputError(f"{source}: policy pattern {pattern!r} is empty or padded")
            if not keys and not rule.digest_pinned:
                raise InputError(
                    f"{source}: policy {pattern!r} requires nothing; give signed-by or "
                    "digest-pinned = true"
                )
            root = base or config_dir()
            policies.append(
                PolicyRule(
                    pattern,
                    tuple(root / Path(k).expanduser() for k in keys),
                    rule.digest_pinned,
                    source,
                )
            )
        return cls(
            registries={
                _normalise_host(host): RegistrySettings(
                    mirrors=tuple(r.mirrors), insecure=r.insecure
                )
                for host, r in model.registry.items()
            },
            policies=tuple(policies),
            aliases=_aliases(model.aliases, source),
        )

    def policy_for(self, reference: Reference | str) -> PolicyRule | None:
        """The most specific policy rule covering ``reference``, if any (first one on a tie)."""
        ref = Reference.parse(reference) if isinstance(reference, str) else reference
        best: PolicyRule | None = None
        for rule in self.policies:
            if rule.matches(ref) and (best is None or rule.specificity > best.specificity):
                best = rule
        return best

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
        return cls.from_dict(data, source=str(path), base=path.parent)

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
        return UserConfig(registries=regs, policies=self.policies, aliases=self.aliases)

    def with_insecure(self, *hosts: str) -> UserConfig:
        regs = dict(self.registries)
        for host in hosts:
            current = regs.get(host, RegistrySettings())
            regs[host] = RegistrySettings(mirrors=current.mirrors, insecure=True)
        return UserConfig(registries=regs, policies=self.policies, aliases=self.aliases)


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
    with atomic_file(path, 0o600) as f:  # mkstemp's file is 0600 from the start
        f.write((json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


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
