"""``check`` over every platform of a stored image: an index is as good as its worst image.

A multi-arch index whose arm64 image holds an x86-64 program passes on an x86-64 host
and fails on every arm64 machine, so an index is checked platform by platform and passes
only when each of its images does.  One report per platform; the items of all of them
together, each labelled with its platform, make the combined report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from distroless.errors import NotFoundError
from distroless.oci.models import Platform
from distroless.store import Store
from distroless.verify.check import CheckReport, check_image
from distroless.verify.findings import Finding
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import ImageHandle, from_store
from distroless.verify.suggest import NoHints, PackageHints

#: makes the package hints for one platform's image (called only when one is needed)
HintsFor = Callable[[FileSystemView, ImageHandle], PackageHints]


def _no_hints(fs: FileSystemView, image: ImageHandle) -> PackageHints:
    return NoHints()


def _bind(hints: HintsFor, fs: FileSystemView, image: ImageHandle) -> Callable[[], PackageHints]:
    def make() -> PackageHints:
        return hints(fs, image)

    return make


@dataclass(frozen=True)
class ImageCheck:
    """The reports of the platforms checked for one image name."""

    image: str
    #: the index's digest when several platforms were checked, else the one manifest's
    digest: str
    reports: tuple[CheckReport, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports)

    def findings(self) -> list[tuple[str, Finding]]:
        return [(r.platform, f) for r in self.reports for f in r.findings]

    def to_dict(self) -> dict[str, Any]:
        def items(report: CheckReport, which: tuple[Finding, ...]) -> list[dict[str, str]]:
            return [{**f.to_dict(), "platform": report.platform} for f in which]

        out: dict[str, Any] = {
            "image": self.image,
            "digest": self.digest,
            "passed": self.passed,
            "findings": [i for r in self.reports for i in items(r, r.findings)],
            "notes": [i for r in self.reports for i in items(r, r.notes)],
            "platforms": [
                {
                    "platform": r.platform,
                    "digest": r.digest,
                    "user": r.user,
                    "passed": r.passed,
                    "layers": [asdict(x) for x in r.layers],
                    "largest": [asdict(x) for x in r.largest],
                    "total_size": r.total_size,
                }
                for r in self.reports
            ],
        }
        if len(self.reports) == 1:
            # one platform: the report reads as it always has
            only = out["platforms"][0]
            out.update({k: only[k] for k in ("platform", "user", "layers", "largest")})
            out["total_size"] = only["total_size"]
        return out


def image_platforms(store: Store, name: str) -> list[Platform]:
    """The platforms of ``name`` that are images (an index may list attestations too)."""
    return [p for p in store.platforms(name) if p.os != "unknown" and p.architecture != "unknown"]


def check_stored(
    store: Store,
    name: str,
    platform: Platform | None = None,
    *,
    largest: int = 10,
    hints: HintsFor = _no_hints,
) -> ImageCheck:
    """Check ``name`` for ``platform``, or for every platform it has."""
    platforms = [platform] if platform is not None else image_platforms(store, name)
    if not platforms:
        raise NotFoundError(f"{name} names no image of any platform")
    reports = []
    for wanted in platforms:
        handle = from_store(store, name, wanted)
        fs = FileSystemView.from_image(handle)
        reports.append(check_image(handle, fs, largest=largest, hints=_bind(hints, fs, handle)))
    digest = reports[0].digest if len(reports) == 1 else store.resolve(name).digest
    return ImageCheck(name, digest, tuple(reports))
