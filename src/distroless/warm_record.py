"""Writing the warm record of a full Dockerfile build (:mod:`distroless.warm` reads it).

The context is walked *before* the build reads it: a file changed while the build runs
gets a newer ctime than the walk saw, so the record can never match it later.  A record is
written only for a build that executed nothing (every layer step a cache hit, every base
already in the store), so what it printed is exactly what a repeat prints; and only when
nothing outside the context that the key covers (Dockerfile, .dockerignore, config.toml)
changed while it ran, no context entry is racy (:data:`~distroless.warm.RACY_NS`), no
``ADD`` fetches from the network and the config holds no image policy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distroless.dockerfile.ast import Add, Dockerfile, FileInstruction, Run
from distroless.dockerfile.context import BuildContext, clean_source, has_glob
from distroless.dockerfile.executor import BuildResult
from distroless.dockerfile.mountspec import BindMount
from distroless.dockerfile.parser import parse
from distroless.dockerfile.resolve_base import UsedImage
from distroless.errors import DistrolessError
from distroless.oci.models import Descriptor
from distroless.reporter import Reporter, Task
from distroless.store import Store
from distroless.store.atomic import atomic_write_bytes
from distroless.store.store import IMAGE_NAME, REF_NAME, ROOT_KIND, normalize_name
from distroless.warm import (
    RACY_NS,
    WARM_VERSION,
    WarmInputs,
    dockerfile_path,
    file_identity,
    record_path,
    walk_context,
    walked,
)

#: layer steps: executed (not cached) means a repeat would print them differently
_LAYER_STEPS = frozenset({"RUN", "COPY", "ADD", "WORKDIR"})


@dataclass
class _Recording:
    """Passes events on and keeps what the terminal shows of them."""

    inner: Reporter
    lines: list[tuple[str, str]] = field(default_factory=list)
    executed: bool = False

    def task(self, description: str, total: int | None = None) -> Task:
        return self.inner.task(description, total)

    def event(self, kind: str, **data: Any) -> None:
        self.inner.event(kind, **data)
        if kind in ("step", "warning"):
            message = str(data.get("message", ""))
            self.lines.append((kind, message))
            instruction = data.get("instruction") if kind == "step" else None
            if instruction == "ADD" and "://" in message:
                self.executed = True  # a URL's content is not in the context
            # WORKDIR / makes no layer and prints the same on every build
            if (
                instruction in _LAYER_STEPS
                and not data.get("cached")
                and not message.endswith("] WORKDIR /")
            ):
                self.executed = True
        elif kind == "base" and data.get("source") != "store":
            self.executed = True


class WarmRecorder:
    """Started before a build, finished after it; see the module docstring."""

    def __init__(
        self, inputs: WarmInputs, tags: tuple[str, ...], dockerfile: Path | None, reporter: Reporter
    ) -> None:
        self.inputs = inputs
        self.tags = tags
        self.key, self.dockerfile_digest = inputs.key()
        self.started = time.time_ns()
        path = Path(dockerfile_path(inputs.context, str(dockerfile) if dockerfile else None))
        context = BuildContext.load(Path(inputs.context), path)

        def skipped(rel: str, is_dir: bool) -> bool:
            return context.excluded(rel) and (not is_dir or context.pruned(rel))

        parsed = _parsed_as_keyed(path, self.dockerfile_digest)
        self.reads = None if parsed is None else context_reads(parsed)
        self.fetches = parsed is None or _fetches(parsed)
        earlier = None if context.ignore.patterns else walked(inputs.context, self.reads)
        if earlier is not None:  # the warm check's walk, which skipped nothing either
            self.started, self.state = earlier
        else:
            self.state = walk_context(
                inputs.context, skipped if context.ignore.patterns else None, self.reads
            )
        self.reporter = _Recording(reporter)

    def finish(
        self,
        store: Store,
        result: BuildResult,
        sboms: Sequence[Descriptor],
        tags: Sequence[str],
        used: Sequence[UsedImage],
        has_policy: bool,
    ) -> bool:
        """Write the record if this build may be repeated from it; returns whether it did."""
        if (
            has_policy
            or self.reporter.executed
            or self.state.newest_ns >= self.started - RACY_NS
            or result.dockerfile is None
            or result.dockerfile_digest != self.dockerfile_digest
            or self.inputs.key()[0] != self.key
            or self.fetches
            or (self.reads is not None and _has_triggers(used))
        ):
            return False
        bases = _bases(used)
        if bases is None:
            return False
        with open(store.root / "index.json", "rb") as fh:
            index = file_identity(os.fstat(fh.fileno()))
            entries = json.load(fh)["manifests"]
        by_name = {e.get("annotations", {}).get(REF_NAME): e for e in entries}
        sbom_digests = {str(d.digest) for d in sboms}
        roots = [
            [e["annotations"][ROOT_KIND], e]
            for e in entries
            if ROOT_KIND in e.get("annotations", {}) and e["digest"] in sbom_digests
        ]
        if len(roots) != len(sbom_digests):
            return False
        desc = result.descriptor
        known: dict[str, object] = {}
        for given, stored in zip(self.tags, tags, strict=True):
            entry = by_name.get(stored)
            if entry is None or entry["annotations"].get(IMAGE_NAME) is None:
                return False
            known[given] = {"stored": stored, "entry": entry}
        manifest = store.read_manifest(desc)
        config = str(manifest.config.digest)
        layers = [str(d.digest) for d in manifest.layers]
        record = {
            "v": WARM_VERSION,
            "image": desc.to_dict(),
            "index": index,
            "tags": known,
            "bases": bases,
            "roots": roots,
            "blobs": [str(desc.digest), config, *layers, *sorted(sbom_digests)],
            "context": self.state.digest,
            "reads": None if self.reads is None else list(self.reads),
            "skipped": list(self.state.skipped),
            "events": [list(line) for line in self.reporter.lines],
        }
        path = Path(record_path(str(store.root), self.key))
        # a store that cannot take the record (read-only, full) only misses the warm path
        with contextlib.suppress(OSError, DistrolessError):
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write_bytes(path, json.dumps(record, sort_keys=True).encode())
            return True
        return False


def _bases(used: Sequence[UsedImage]) -> list[list[str]] | None:
    """``[stored name, digest]`` of each image the build resolved, as the store's index
    holds them; None when one was found by something else than its tag."""
    out = []
    for image in used:
        if "@" in image.name:
            return None
        try:
            stored = normalize_name(image.name)
        except DistrolessError:
            return None
        if image.descriptor.annotations.get(REF_NAME) != stored:
            return None
        out.append([stored, str(image.descriptor.digest)])
    return out


def context_reads(dockerfile: Dockerfile) -> tuple[str, ...] | None:
    """The context paths a build of ``dockerfile`` reads (its ``COPY`` and ``ADD`` sources
    and ``RUN --mount=type=bind`` sources that name no stage or image), none below another,
    or None when they cannot all be told without building: a wildcard or a variable in one,
    or one that is the whole context.  A stage the build never reaches only adds paths."""
    paths: set[str] = set()
    for stage in dockerfile.stages:
        for ins in stage.instructions:
            if isinstance(ins, FileInstruction):
                sources = () if ins.from_ is not None else ins.sources
            elif isinstance(ins, Run):
                sources = tuple(
                    m.source
                    for m in ins.mounts
                    if isinstance(m, BindMount) and m.source_stage is None
                )
            else:
                continue
            for source in sources:
                if any(c in source for c in "$\\") or has_glob(source):
                    return None
                cleaned = clean_source(source)
                if not cleaned:
                    return None
                paths.add(cleaned)
    ordered = sorted(paths)
    return tuple(p for p in ordered if not any(p.startswith(q + "/") for q in ordered))


def _parsed_as_keyed(path: Path, digest: str) -> Dockerfile | None:
    """The Dockerfile at ``path`` parsed from the very bytes the record's key holds, or
    None when it changed since, does not parse (its build will say) or cannot be read."""
    try:
        data = path.read_bytes()
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            return None
        return parse(data.decode("utf-8"), str(path))
    except (DistrolessError, OSError, UnicodeDecodeError):
        return None


def _has_triggers(used: Sequence[UsedImage]) -> bool:
    """Whether a base brings ``ONBUILD`` triggers, whose ``COPY`` sources the Dockerfile
    does not show."""
    return any(u.image.config.config.on_build for u in used if u.role == "base")


def _fetches(dockerfile: Dockerfile) -> bool:
    """Whether an ``ADD`` takes a URL or a git repository: its content is not in the context."""
    for stage in dockerfile.stages:
        for ins in stage.instructions:
            if isinstance(ins, Add) and any(
                "://" in s or s.startswith("git@") or s.endswith(".git") for s in ins.sources
            ):
                return True
    return False
