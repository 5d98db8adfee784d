"""Frozen models of the OCI documents: platform, descriptor, manifest, index, image config.

Each model reads tolerantly (``from_dict``) and writes canonically (``to_dict`` then
:func:`distroless.oci.canonical.dumps`).  Fields we do not model are kept in ``extra`` so
that a config read from elsewhere and changed by a build loses nothing.  Documents fetched
from a store or registry are kept as their original bytes; these models only describe them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from distroless.errors import ArchiveError, InputError
from distroless.oci import arch as arch_names
from distroless.oci import mediatypes as mt
from distroless.oci.canonical import digest_of, dumps
from distroless.oci.digest import Digest, parse_digest

#: The PATH docker gives an image or container that sets none (and a ``FROM scratch`` stage).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, {}, [], "")}


#: a ``\uD800``-``\uDFFF`` escape: the only way JSON text can hold a lone surrogate
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def load_json(data: bytes, what: str) -> dict[str, Any]:
    """Decode a JSON object, turning malformed content into an error naming ``what``.

    JSON may escape half of a surrogate pair (``"\\ud800"``), which no UTF-8 text can hold:
    such a string would fail later, wherever it is written out again (a derived config, an
    SBOM).  Lone surrogates become U+FFFD here, as Go's decoder (docker, the registries)
    reads them, so every tool sees the same text.
    """
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{what}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ArchiveError(f"{what}: JSON nests too deeply") from None
    if not isinstance(obj, dict):
        raise ArchiveError(f"{what}: expected a JSON object")
    if _SURROGATE_ESCAPE.search(data):
        return _replace_surrogates(obj)
    return obj


def _clean(text: str) -> str:
    if not _LONE_SURROGATE.search(text):
        return text
    # pairs that json.loads already joined are not surrogates any more; what is left is lone
    return _LONE_SURROGATE.sub("\ufffd", text)


def _replace_surrogates(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with every lone surrogate in its keys and strings replaced (no recursion)."""
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = [(obj, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if isinstance(value, dict):
                copy: Any = {}
                stack.append((value, copy))
            elif isinstance(value, list):
                copy = [None] * len(value)
                stack.append((value, copy))
            elif isinstance(value, str):
                copy = _clean(value)
            else:
                copy = value
            if isinstance(target, dict):
                target[_clean(str(key))] = copy
            else:
                target[key] = copy
    return root


# Documents come from registries and archives we do not control: each field is checked for
# its JSON type here, so a wrong type is an ArchiveError now rather than a crash later.
def _obj(value: Any, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ArchiveError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def _text(value: Any, what: str, default: str = "") -> str:
    """A string field; JSON numbers and booleans are read as their text (lenient writers)."""
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    raise ArchiveError(f"{what}: expected a string, got {type(value).__name__}")


def _opt_text(value: Any, what: str) -> str | None:
    return _text(value, what) or None


def _texts(value: Any, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ArchiveError(f"{what}: expected a list of strings, got {type(value).__name__}")
    return tuple(_text(x, what) for x in value)


def _text_map(value: Any, what: str) -> dict[str, str]:
    return {k: _text(v, f"{what}[{k!r}]") for k, v in _obj(value, what).items()}


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ArchiveError(f"{what}: expected a list, got {type(value).__name__}")
    return value


@dataclass(frozen=True, order=True)
class Platform:
    """An image platform in OCI's names (``arm``/``v7``, never Debian's ``armhf``).

    ``arm64``'s ``v8`` is dropped when parsed, as docker does, so one platform has one
    value; the names of other families go through :mod:`distroless.oci.arch`.
    """

    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None
    os_version: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]`` or a bare ``arch`` (docker's ``--platform`` syntax).

        Debian's and the kernel's names are understood too (``armhf``, ``x86_64``).
        """
        parts = text.strip().lower().split("/")
        if len(parts) == 1 and parts[0]:
            parts = ["linux", parts[0]]
        if len(parts) not in (2, 3) or not all(parts):
            raise InputError(f"invalid platform {text!r}: expected os/arch[/variant]")
        arch, implied = arch_names.oci_of_name(parts[1])
        variant = parts[2] if len(parts) == 3 else implied
        if arch == "arm64" and variant == "v8":
            variant = None
        return cls(os=parts[0], architecture=arch, variant=variant)

    @classmethod
    def of_debian(cls, arch: str) -> Platform:
        """The platform that packages of the Debian architecture ``arch`` run on."""
        architecture, variant = arch_names.oci_of_debian(arch)
        return cls("linux", architecture, variant)

    @classmethod
    def host(cls) -> Platform:
        """This machine's platform: what an image is built or run for unless told."""
        architecture, variant = arch_names.host_oci()
        return cls("linux", architecture, variant)

    def debian_arch(self) -> str:
        """The Debian architecture whose packages run on this platform."""
        return arch_names.debian_of_oci(self.architecture, self.variant)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Platform:
        d = _obj(d, "platform")
        return cls(
            os=_text(d.get("os"), "platform os", "linux"),
            architecture=_text(d.get("architecture"), "platform architecture", "amd64"),
            variant=_opt_text(d.get("variant"), "platform variant"),
            os_version=_opt_text(d.get("os.version"), "platform os.version"),
        )

    def to_dict(self) -> dict[str, Any]:
        return _drop_empty(
            {
                "os": self.os,
                "architecture": self.architecture,
                "variant": self.variant,
                "os.version": self.os_version,
            }
        )

    def matches(self, other: Platform) -> bool:
        """True when ``other`` (from an index) serves this requested platform."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        return self.variant is None or other.variant in (None, self.variant)

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base


@dataclass(frozen=True)
class Descriptor:
    """A content address: what a blob is (media type), its sha256 and its length.

    Invariants: ``digest`` is ``sha256:`` and 64 lowercase hex digits (parsed documents
    go through :func:`~distroless.oci.digest.parse_digest`, written blobs are hashed while
    they stream) and ``size`` is the blob's exact byte count, so a fetch can be checked
    before anything trusts it.  Equal fields are the same descriptor; serialising drops
    empty optional fields, so the bytes are the same for the same values.
    """

    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    artifact_type: str | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Descriptor:
        try:
            d = _obj(d, "descriptor")
            size = d["size"]
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise ValueError(f"size {size!r} is not a non-negative integer")
            return cls(
                media_type=_text(d["mediaType"], "descriptor mediaType"),
                digest=parse_digest(_text(d["digest"], "descriptor digest")),
                size=size,
                annotations=_text_map(d.get("annotations"), "descriptor annotations"),
                platform=Platform.from_dict(d["platform"]) if d.get("platform") else None,
                artifact_type=_opt_text(d.get("artifactType"), "descriptor artifactType"),
                urls=_texts(d.get("urls"), "descriptor urls") or (),
            )
        except (KeyError, TypeError, ValueError, InputError, ArchiveError) as exc:
            shown = repr(d)[:200]
            raise ArchiveError(f"invalid descriptor {shown}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return _drop_empty(
            {
                "mediaType": self.media_type,
                "digest": self.digest,
                "size": self.size,
                "annotations": dict(self.annotations),
                "platform": self.platform.to_dict() if self.platform else None,
                "artifactType": self.artifact_type,
                "urls": list(self.urls),
            }
        )

    def with_annotations(self, **extra: str) -> Descriptor:
        return replace(self, annotations={**self.annotations, **extra})


@dataclass(frozen=True)
class Manifest:
    """One image for one platform: its config and its layers, bottom first.

    Invariants: the document's digest is the sha256 of :meth:`to_bytes`, the project's
    canonical JSON, so equal values have one digest; for an image, ``layers`` is in the
    order of the config's ``rootfs.diff_ids``.
    """

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mt.OCI_MANIFEST
    annotations: Mapping[str, str] = field(default_factory=dict)
    subject: Descriptor | None = None
    artifact_type: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Manifest:
        try:
            return cls(
                config=Descriptor.from_dict(d["config"]),
                layers=tuple(
                    Descriptor.from_dict(x) for x in _list(d.get("layers"), "manifest layers")
                ),
                media_type=_text(d.get("mediaType"), "manifest mediaType") or mt.OCI_MANIFEST,
                annotations=_text_map(d.get("annotations"), "manifest annotations"),
                subject=Descriptor.from_dict(d["subject"]) if d.get("subject") else None,
                artifact_type=_opt_text(d.get("artifactType"), "manifest artifactType"),
            )
        except (KeyError, TypeError) as exc:
            raise ArchiveError(f"invalid image manifest: missing {exc}") from None

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        return cls.from_dict(load_json(data, "manifest"))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_dict(),
            "layers": [x.to_dict() for x in self.layers],
        }
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.subject:
            d["subject"] = self.subject.to_dict()
        if self.artifact_type:
            d["artifactType"] = self.artifact_type
        return d

    def to_bytes(self) -> bytes:
        return dumps(self.to_dict())

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        data, digest = digest_of(self.to_dict())
        return Descriptor(self.media_type, digest, len(data), platform=platform)


@dataclass(frozen=True)
class Index:
    """A list of manifests (one per platform, or artifacts), addressed like a manifest.

    Invariants: the digest is that of :meth:`to_bytes` (canonical JSON); the order of
    ``manifests`` is kept, and :meth:`for_platform` takes the first one that matches.
    """

    manifests: tuple[Descriptor, ...]
    media_type: str = mt.OCI_INDEX
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Index:
        try:
            return cls(
                manifests=tuple(
                    Descriptor.from_dict(x) for x in _list(d.get("manifests"), "index manifests")
                ),
                media_type=_text(d.get("mediaType"), "index mediaType") or mt.OCI_INDEX,
                annotations=_text_map(d.get("annotations"), "index annotations"),
            )
        except TypeError as exc:
            raise ArchiveError(f"invalid image index: {exc}") from None

    @classmethod
    def from_bytes(cls, data: bytes) -> Index:
        return cls.from_dict(load_json(data, "index"))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [x.to_dict() for x in self.manifests],
        }
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d

    def to_bytes(self) -> bytes:
        return dumps(self.to_dict())

    def descriptor(self) -> Descriptor:
        data, digest = digest_of(self.to_dict())
        return Descriptor(self.media_type, digest, len(data))

    def for_platform(self, platform: Platform) -> Descriptor | None:
        for desc in self.manifests:
            if desc.platform is not None and platform.matches(desc.platform):
                return desc
        return None


@dataclass(frozen=True)
class HistoryEntry:
    created_by: str = ""
    created: str | None = None
    comment: str | None = None
    empty_layer: bool = False
    author: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HistoryEntry:
        d = _obj(d, "image config history entry")
        return cls(
            created_by=_text(d.get("created_by"), "history created_by"),
            created=_opt_text(d.get("created"), "history created"),
            comment=_opt_text(d.get("comment"), "history comment"),
            empty_layer=bool(d.get("empty_layer", False)),
            author=_opt_text(d.get("author"), "history author"),
        )

    def to_dict(self) -> dict[str, Any]:
        d = _drop_empty(
            {
                "created_by": self.created_by,
                "created": self.created,
                "comment": self.comment,
                "author": self.author,
            }
        )
        if self.empty_layer:
            d["empty_layer"] = True
        return d


@dataclass(frozen=True)
class ContainerConfig:
    """The ``config`` section of an image config: how a container of the image starts."""

    user: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str = ""
    healthcheck: Mapping[str, Any] | None = None
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = (
        "User", "Env", "Entrypoint", "Cmd", "WorkingDir", "Labels", "ExposedPorts",
        "Volumes", "StopSignal", "Healthcheck", "OnBuild", "Shell",
    )  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ContainerConfig:
        d = _obj(d, "image config 'config'")

        def seq(key: str) -> tuple[str, ...] | None:
            return _texts(d.get(key), f"image config {key}")

        healthcheck = d.get("Healthcheck")
        return cls(
            user=_text(d.get("User"), "image config User"),
            env=seq("Env") or (),
            entrypoint=seq("Entrypoint"),
            cmd=seq("Cmd"),
            working_dir=_text(d.get("WorkingDir"), "image config WorkingDir"),
            labels=_text_map(d.get("Labels"), "image config Labels"),
            exposed_ports=tuple(sorted(_obj(d.get("ExposedPorts"), "image config ExposedPorts"))),
            volumes=tuple(sorted(_obj(d.get("Volumes"), "image config Volumes"))),
            stop_signal=_text(d.get("StopSignal"), "image config StopSignal"),
            healthcheck=None
            if healthcheck is None
            else _obj(healthcheck, "image config Healthcheck"),
            on_build=seq("OnBuild") or (),
            shell=seq("Shell"),
            extra={k: v for k, v in d.items() if k not in cls._KNOWN},
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.extra)
        d.update(
            _drop_empty(
                {
                    "User": self.user,
                    "Env": list(self.env),
                    "WorkingDir": self.working_dir,
                    "Labels": dict(self.labels),
                    "ExposedPorts": {p: {} for p in self.exposed_ports},
                    "Volumes": {v: {} for v in self.volumes},
                    "StopSignal": self.stop_signal,
                    "Healthcheck": self.healthcheck,
                    "OnBuild": list(self.on_build),
                    "Shell": list(self.shell) if self.shell else None,
                }
            )
        )
        if self.entrypoint is not None:
            d["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            d["Cmd"] = list(self.cmd)
        return d

    def env_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def with_env(self, **values: str) -> ContainerConfig:
        """Set variables, keeping the position of ones that already exist (docker's order)."""
        current = self.env_map()
        current.update(values)
        return replace(self, env=tuple(f"{k}={v}" for k, v in current.items()))


@dataclass(frozen=True)
class ImageConfig:
    """An image's config blob: platform, how a container starts, and the layer history.

    Invariants: parsed ``diff_ids`` are validated sha256 digests; in an image this project
    writes they are one per layer of the manifest, in its order, and the ``history``
    entries without ``empty_layer`` match those layers one to one.  Keys this model does
    not know are kept in ``extra`` and written back, so a config read and written again
    keeps its content.
    """

    architecture: str = "amd64"
    os: str = "linux"
    variant: str | None = None
    config: ContainerConfig = field(default_factory=ContainerConfig)
    diff_ids: tuple[Digest, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    created: str | None = None
    author: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    _KNOWN = ("architecture", "os", "variant", "config", "rootfs", "history", "created", "author")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageConfig:
        d = _obj(d, "image config")
        rootfs = _obj(d.get("rootfs"), "image config rootfs")
        try:
            diff_ids = tuple(
                parse_digest(_text(x, "image config diff_id"))
                for x in _list(rootfs.get("diff_ids"), "image config diff_ids")
            )
        except InputError as exc:
            raise ArchiveError(f"image config: {exc}") from None
        return cls(
            architecture=_text(d.get("architecture"), "image config architecture") or "amd64",
            os=_text(d.get("os"), "image config os") or "linux",
            variant=_opt_text(d.get("variant"), "image config variant"),
            config=ContainerConfig.from_dict(d.get("config") or {}),
            diff_ids=diff_ids,
            history=tuple(
                HistoryEntry.from_dict(h) for h in _list(d.get("history"), "image config history")
            ),
            created=_opt_text(d.get("created"), "image config created"),
            author=_opt_text(d.get("author"), "image config author"),
            extra={k: v for k, v in d.items() if k not in cls._KNOWN},
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ImageConfig:
        return cls.from_dict(load_json(data, "image config"))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.extra)
        d.update(
            {
                "architecture": self.architecture,
                "os": self.os,
                "config": self.config.to_dict(),
                "rootfs": {"type": "layers", "diff_ids": list(self.diff_ids)},
            }
        )
        if self.variant:
            d["variant"] = self.variant
        if self.history:
            d["history"] = [h.to_dict() for h in self.history]
        if self.created:
            d["created"] = self.created
        if self.author:
            d["author"] = self.author
        return d

    def to_bytes(self) -> bytes:
        return dumps(self.to_dict())

    @property
    def platform(self) -> Platform:
        return Platform(os=self.os, architecture=self.architecture, variant=self.variant)
