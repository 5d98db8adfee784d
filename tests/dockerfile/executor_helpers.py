"""Small helpers for executor tests: a context from a dict, a build, the files of an image,
and a step runner that stands in for the sandbox."""

from __future__ import annotations

import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from distroless.dockerfile.executor import BuildOptions, BuildResult, build_dockerfile
from distroless.dockerfile.resolve_base import BaseResolver
from distroless.dockerfile.step_runner import StepOutputs
from distroless.layers.build import write_layer
from distroless.layers.entry import Entry, EntryType
from distroless.oci.models import ContainerConfig, Descriptor
from distroless.reporter import RecordingReporter
from distroless.runtime.capture import CaptureResult, StepConfig
from distroless.store import Store
from tests.helpers.images import store_image


def write_context(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Create ``root`` with ``files`` (relative path -> content); returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


@dataclass
class Built:
    store: Store
    result: BuildResult
    reporter: RecordingReporter = field(default_factory=RecordingReporter)

    @property
    def config(self) -> ContainerConfig:
        return self.result.config.config

    def steps(self) -> list[dict[str, Any]]:
        return [data for kind, data in self.reporter.events if kind == "step"]

    def executed(self, instruction: str | None = None) -> list[dict[str, Any]]:
        return [
            s
            for s in self.steps()
            if not s["cached"] and (instruction is None or s["instruction"] == instruction)
        ]

    def layers(self) -> list[dict[str, tuple[tarfile.TarInfo, bytes | None]]]:
        return image_layers(self.store, self.result.descriptor)

    def files(self) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
        merged: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
        for layer in self.layers():
            merged.update(layer)
        return merged


def image_layers(
    store: Store, desc: Descriptor
) -> list[dict[str, tuple[tarfile.TarInfo, bytes | None]]]:
    out = []
    for layer in store.read_manifest(desc).layers:
        entries: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
        with store.open_blob(layer.digest) as fh, tarfile.open(fileobj=fh, mode="r:*") as tar:
            for member in tar:
                data = None
                if member.isreg():
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    data = extracted.read()
                entries[member.name.rstrip("/")] = (member, data)
        out.append(entries)
    return out


def build(
    store: Store,
    context: Path,
    dockerfile: str | None = None,
    **options: Any,
) -> Built:
    """Build ``context`` (writing ``dockerfile`` into it first, when given)."""
    if dockerfile is not None:
        (context / "Dockerfile").write_text(dockerfile)
    reporter = RecordingReporter()
    resolver = options.pop("resolver", None) or BaseResolver(store, reporter=reporter)
    runner = options.pop("runner", None)
    result = build_dockerfile(
        store,
        BuildOptions(context=context, **options),
        resolver=resolver,
        reporter=reporter,
        runner=runner,
    )
    return Built(store, result, reporter)


@dataclass
class FakeRunner:
    """Runs no container: records each RUN step it is given and writes a small layer.

    The layer holds one file, ``ran-N`` (N counts the steps this runner ran), so two
    steps never share a layer by accident.  With ``exit_code`` set, the step fails after
    writing ``output`` to its stdout, as a failing command would.
    """

    steps: list[StepConfig] = field(default_factory=list)
    lowers: list[list[Path]] = field(default_factory=list)
    exit_code: int = 0
    output: bytes = b""

    def run(self, lowers: Sequence[Path], step: StepConfig, outputs: StepOutputs) -> CaptureResult:
        self.steps.append(step)
        self.lowers.append(list(lowers))
        if self.output and outputs.stdout is not None and not isinstance(outputs.stdout, int):
            outputs.stdout.write(self.output)
            outputs.stdout.flush()
        if self.exit_code:
            return CaptureResult(self.exit_code, None)
        entries = [Entry.file(f"ran-{len(self.steps)}", b"done")]
        info = write_layer(
            entries,
            outputs.layer,
            outputs.compression,
            source_date_epoch=outputs.source_date_epoch,
        )
        return CaptureResult(0, info)


def static_busybox() -> Path:
    """The host's static busybox (Debian's busybox-static), or stop the test saying why."""
    from tests.helpers import require, require_root

    require_root()
    path = Path("/bin/busybox")
    static = False
    if path.is_file():
        from elftools.elf.elffile import ELFFile

        with path.open("rb") as fh:
            static = not any(seg["p_type"] == "PT_INTERP" for seg in ELFFile(fh).iter_segments())
    require(static, "a static /bin/busybox is not installed (Debian package busybox-static)")
    return path


def busybox_image(store: Store, name: str) -> Descriptor:
    """An image with only a static busybox as ``/bin/sh``, for RUN steps in tests."""
    busybox = static_busybox()
    size = busybox.stat().st_size

    def opener() -> BinaryIO:
        return busybox.open("rb")

    entries = [
        Entry.directory("bin"),
        Entry("bin/sh", EntryType.FILE, mode=0o755, size=size, opener=opener),
    ]
    return store_image(store, name, [entries])


def shell_store(root: Path) -> Store:
    """A store at ``root`` holding ``shell:latest`` (:func:`busybox_image`), for RUN steps."""
    from tests.helpers.require import require_tool

    require_tool("runc")
    store = Store(root)
    busybox_image(store, "shell:latest")
    return store
