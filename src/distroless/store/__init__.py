"""The local image store: a content-addressed OCI image layout with tags and locks."""

from distroless.store.store import Store, StoredImage

__all__ = ["Store", "StoredImage"]
