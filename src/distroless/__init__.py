"""Build, run, check and ship distroless container images without a Docker daemon."""

__version__ = "0.1.0"
