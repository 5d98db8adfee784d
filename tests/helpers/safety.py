"""Every image the test suite builds is checked against the distroless policy.

After each test, the stores it left under its temporary directories are found and each
tagged image (every platform) goes through ``check``. ``check`` must never crash, and an
image with findings fails the test unless the test says it builds unsafe images on purpose
(``@pytest.mark.unsafe_images``), as the tests of ``check`` itself do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from distroless.errors import DistrolessError
from distroless.store import Store
from distroless.verify.check import check_image
from distroless.verify.image import from_store

MAX_DEPTH = 4


def find_stores(base: Path) -> Iterator[Path]:
    """Store roots (an OCI layout with the store's ``tmp`` and ``state``) under ``base``."""
    if not base.is_dir():
        return
    stack = [(base, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            children = list(here.iterdir())
        except OSError:
            continue
        names = {c.name for c in children}
        if {"oci-layout", "index.json", "blobs", "tmp", "state"} <= names:
            yield here
            continue
        if depth < MAX_DEPTH:
            stack.extend((c, depth + 1) for c in children if c.is_dir() and not c.is_symlink())


@dataclass
class SafetyLedger:
    """What was checked this session (by manifest digest, so shared bases count once)."""

    seen: dict[str, list[str]] = field(default_factory=dict)

    def check_store(self, root: Path) -> list[str]:
        """Problems of the images in ``root``: ``name (platform): finding`` lines."""
        problems: list[str] = []
        store = Store(root)
        for name, _desc in store.refs():
            try:
                platforms = store.platforms(name)
            except DistrolessError:
                continue  # not an image (an artifact), nothing to check
            for platform in platforms:
                try:
                    image = from_store(store, name, platform)
                except DistrolessError:
                    continue
                if image.digest not in self.seen:
                    try:
                        # the policy only: tests build images with stand-in programs
                        report = check_image(image, runnable=False)
                    except DistrolessError:
                        continue  # layers that are not tars: a model, not an image to run
                    self.seen[image.digest] = [f"{f.kind} {f.path}" for f in report.findings]
                problems.extend(f"{name} ({platform}): {p}" for p in self.seen[image.digest])
        return problems
