"""Running images: layer unpack cache, overlay root filesystems, OCI bundles for runc.

``run_image`` is what ``distroless run`` calls; ``run_and_capture`` is what the Dockerfile
executor calls for a ``RUN`` step (it turns the sandbox's changes into a layer).
"""

from distroless.runtime.capture import CaptureResult, StepConfig, run_and_capture
from distroless.runtime.container import run_image
from distroless.runtime.options import Mount, RunOptions, parse_env, parse_volume
from distroless.runtime.rootfs import LayerCache
from distroless.runtime.runc import Runtime

__all__ = [
    "CaptureResult",
    "LayerCache",
    "Mount",
    "RunOptions",
    "Runtime",
    "StepConfig",
    "parse_env",
    "parse_volume",
    "run_and_capture",
    "run_image",
]
