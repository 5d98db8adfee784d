"""``distroless build`` when nothing changed: answered before click and the builder load.

Only a plain Dockerfile build is recognised here: ``[--root R] [--debug] build [-t T]...
[-f F] [--build-arg K[=V]]... [--target S] [--platform P] [-q] [--progress auto|quiet]
[--sbom|--no-sbom] CONTEXT``.  Any other flag, a repeated one that may be given once, or a
form this parser does not know (``-tNAME``, ``--``) sends the command down the full path,
and so does every doubt :func:`distroless.warm.check` has.  What is printed is what the full
path prints for the same build, line for line.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Sequence

from distroless.assignments import parse_assignments
from distroless.errors import UsageError
from distroless.warm import NO_WARM_ENV, WarmHit, WarmInputs, check

_VALUE_FLAGS = {
    "-t": "tags",
    "--tag": "tags",
    "-f": "file",
    "--file": "file",
    "--build-arg": "build_args",
    "--target": "target",
    "--platform": "platform",
    "--progress": "progress",
}
_ONCE = frozenset({"file", "target", "platform", "progress"})


class _Args:
    """The parsed flags (a plain class: :mod:`dataclasses` is slow to load)."""

    def __init__(self) -> None:
        self.root: str | None = None
        self.tags: list[str] = []
        self.build_args: list[str] = []
        self.file: str | None = None
        self.target: str | None = None
        self.platform: str | None = None
        self.progress = "auto"
        self.quiet = False
        self.sbom = True
        self.context: str | None = None


def parse(argv: Sequence[str]) -> _Args | None:
    """The flags of a plain warm-able build, or None for anything else."""
    args = _Args()
    items = list(argv)
    i = 0
    # the group's own options, before the command name
    while i < len(items) and items[i] != "build":
        item = items[i]
        if item == "--debug":
            i += 1
        elif item == "--root" and i + 1 < len(items):
            args.root = items[i + 1]
            i += 2
        elif item.startswith("--root="):
            args.root = item.removeprefix("--root=")
            i += 1
        else:
            return None
    i += 1
    if i > len(items):
        return None
    seen: set[str] = set()
    while i < len(items):
        item = items[i]
        name, eq, attached = item.partition("=") if item.startswith("--") else (item, "", "")
        if name in _VALUE_FLAGS:
            if eq:
                value = attached
                i += 1
            elif i + 1 < len(items):
                value = items[i + 1]
                i += 2
            else:
                return None
            dest = _VALUE_FLAGS[name]
            if dest in _ONCE:
                if dest in seen:
                    return None
                seen.add(dest)
                setattr(args, dest, value)
            else:
                getattr(args, dest).append(value)
            continue
        if item in ("-q", "--quiet"):
            args.quiet = True
        elif item in ("--sbom", "--no-sbom"):
            args.sbom = item == "--sbom"
        elif item.startswith("-") or args.context is not None:
            return None
        else:
            args.context = item
        i += 1
    if args.context is None or args.progress not in ("auto", "quiet"):
        return None
    return args


def _store_root(given: str | None) -> str:
    """Where the full path puts the store (``--root``, ``DISTROLESS_ROOT``, XDG)."""
    root = given or os.environ.get("DISTROLESS_ROOT")
    if root:
        return root
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return os.path.join(base, "distroless")


def _build_args(items: list[str]) -> dict[str, str] | None:
    """As the full path reads ``--build-arg``; None for a value it refuses."""
    try:
        return parse_assignments(items, what="--build-arg")
    except UsageError:
        return None


def _source_date_epoch() -> int | None:
    try:
        value = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    except ValueError:
        return None
    return value if value >= 0 else None


def try_warm_build(argv: Sequence[str]) -> int | None:
    """Exit code 0 when the warm path built (and printed) the image; None otherwise."""
    if os.environ.get(NO_WARM_ENV) or "build" not in argv:
        return None
    args = parse(argv)
    if args is None or args.context is None:
        return None
    build_args = _build_args(args.build_args)
    sde = _source_date_epoch()
    if build_args is None or sde is None or not os.path.isdir(args.context):
        return None
    inputs = WarmInputs(
        context=args.context,
        dockerfile=args.file,
        build_args=build_args,
        target=args.target,
        platform=args.platform,
        sbom=args.sbom,
        source_date_epoch=sde,
    )
    root = _store_root(args.root)
    try:
        fd = os.open(os.path.join(root, "gc.lock"), os.O_RDWR)
    except OSError:
        return None
    try:
        # shared, as every writer's session: prune does not collect what we check
        fcntl.flock(fd, fcntl.LOCK_SH)
        hit = check(root, inputs, tuple(args.tags))
        if hit is None or (hit.retag and not _retag(root, hit)):
            return None
    finally:
        os.close(fd)
    _print(hit, args)
    return 0


def _retag(root: str, hit: WarmHit) -> bool:
    """Point the tags that moved back at the image, through the store's own tagging."""
    from pathlib import Path

    from distroless.errors import DistrolessError
    from distroless.oci.models import Descriptor
    from distroless.store import Store

    try:
        Store(Path(root)).tag_many([(given, Descriptor.from_dict(d)) for given, d in hit.retag])
    except (DistrolessError, OSError):
        return False
    return True


def _print(hit: WarmHit, args: _Args) -> None:
    """What the full path's reporter and result line print for this build."""
    show_steps = not args.quiet and args.progress == "auto"
    lines = []
    for kind, message in hit.events:
        if kind == "warning":
            lines.append(f"warning: {message}\n")
        elif show_steps:
            lines.append(message + "\n")
    sys.stderr.write("".join(lines))
    sys.stderr.flush()
    sys.stdout.write(hit.digest + "\n" if args.quiet else f"Built {hit.digest}\n")
    sys.stdout.flush()
