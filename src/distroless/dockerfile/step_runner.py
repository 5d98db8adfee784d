"""The seam between the executor and the sandbox that runs ``RUN`` steps.

The executor decides everything about a step (its command, environment, mounts, secrets,
network, and its cache key) and hands the result to a :class:`StepRunner`, which only runs
it over the stage's unpacked layers and writes what changed as a layer.  The real runners
are :class:`SandboxRunner` (runc or crun over an overlay) and :class:`ChrootRunner` (no
namespaces, for builds inside an unprivileged container); tests give the executor a small fake
that records what it was asked and writes a layer of its own, so the executor's side is
tested without root or a runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from distroless.layers.compress import Compression
from distroless.reporter import Reporter
from distroless.runtime.capture import CaptureResult, StepConfig, run_and_capture
from distroless.runtime.chroot import run_in_chroot
from distroless.runtime.namespaces import namespaces_allowed
from distroless.runtime.runc import Runtime

#: where a step's stdout and stderr go: a file, a descriptor, or None to discard them
Output = IO[bytes] | int | None


@dataclass(frozen=True)
class StepOutputs:
    """Where a step's results go.

    ``layer`` receives the layer blob, written with ``compression`` and file times clamped
    to ``source_date_epoch``; a runner writes to it only when the step exits 0.
    """

    layer: BinaryIO
    compression: Compression
    source_date_epoch: int
    stdout: Output
    stderr: Output


class StepRunner(Protocol):
    """Runs one RUN step and captures its change set as a layer.

    ``lowers`` are the stage's unpacked layer directories, bottom up.  Returns the exit
    code and, after an exit 0, the layer written to ``outputs.layer``.  Raises
    :class:`~distroless.errors.SandboxError` when the step cannot be run at all.
    """

    def run(
        self, lowers: Sequence[Path], step: StepConfig, outputs: StepOutputs
    ) -> CaptureResult: ...


class SandboxRunner:
    """RUN steps in a container of ``runtime`` over an overlay of the lower layers."""

    def __init__(self, runtime: Runtime, state_root: Path, reporter: Reporter) -> None:
        self.runtime = runtime
        self.state_root = state_root
        self.reporter = reporter

    def run(self, lowers: Sequence[Path], step: StepConfig, outputs: StepOutputs) -> CaptureResult:
        return run_and_capture(
            lowers,
            step,
            outputs.layer,
            outputs.compression,
            state_root=self.state_root,
            source_date_epoch=outputs.source_date_epoch,
            stdout=outputs.stdout,
            stderr=outputs.stderr,
            runtime=self.runtime,
            reporter=self.reporter,
        )


class ChrootRunner:
    """RUN steps chrooted into a copy of the stage's layers (``--isolation chroot``)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    def run(self, lowers: Sequence[Path], step: StepConfig, outputs: StepOutputs) -> CaptureResult:
        return run_in_chroot(
            lowers,
            step,
            outputs.layer,
            outputs.compression,
            scratch=self.scratch,
            source_date_epoch=outputs.source_date_epoch,
            stdout=outputs.stdout,
            stderr=outputs.stderr,
        )


def chosen_isolation(asked: str) -> str:
    """``oci`` or ``chroot`` for ``build --isolation ASKED``.

    ``oci`` is runc or crun in namespaces over an overlay; ``chroot`` needs none
    (:mod:`distroless.runtime.chroot`); ``auto`` takes ``oci`` where the machine allows
    namespaces and ``chroot`` where it refuses them.
    """
    if asked != "auto":
        return asked
    return "oci" if namespaces_allowed() else "chroot"
