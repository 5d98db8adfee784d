"""The declarative image spec (``image.yaml``) and its validation."""

from distroless.spec.loader import load_spec, parse_spec
from distroless.spec.model import FileItem, ImageSpec

__all__ = ["FileItem", "ImageSpec", "load_spec", "parse_spec"]
