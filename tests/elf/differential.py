"""Comparing the resolver with the real loader over every ELF of a tree.

For each ELF the loader's own trace (``ld.so --list`` with ``LD_VERBOSE=1``, run inside the
tree) is compared with the closure on three points: each object's first name and the
path it was loaded from (``not found`` included), whether the loader refused to start,
and every symbol version with whether it was found.  Disagreements are collected, not
raised one by one, so a run reports all of them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from distroless.elf import (
    Closure,
    ClosureResolver,
    FileKind,
    ImageView,
    Loader,
    VersionStatus,
    parse_header,
    resolve,
)
from distroless.elf.header import ET_DYN, ET_EXEC
from tests.elf.support import Trace, ours, trace


def elf_files(view: ImageView, tops: Sequence[str], loader: Loader) -> list[str]:
    """Every regular file under ``tops`` that ``loader`` could run or load, sorted."""
    found: set[str] = set()
    seen_dirs: set[str] = set()

    def walk(directory: str) -> Iterator[str]:
        if directory in seen_dirs:
            return
        seen_dirs.add(directory)
        for name in view.listdir(directory):
            path = posixpath.join(directory, name)
            st = view.stat(path)
            if st is None:
                continue
            if st.kind is FileKind.DIR:
                yield from walk(path)
            elif st.kind is FileKind.FILE and st.size >= 64:
                yield path

    candidates = []
    for top in tops:
        candidates += list(walk(resolve(view, top)))
    for path, stream in view.open_many(candidates):
        header = parse_header(stream.read(64))
        if (
            header is not None
            and header.ei_class == loader.ei_class
            and header.e_machine == loader.machine
            and header.e_type in (ET_DYN, ET_EXEC)
        ):
            found.add(path)
    return sorted(found)


@dataclass
class Report:
    checked: int
    disagreements: list[str]
    versions_checked: int = 0


def _versions(closure: Closure) -> dict[tuple[str, str, str], bool]:
    out = {}
    for check in closure.versions:
        found = check.status not in (VersionStatus.MISSING, VersionStatus.NOT_LOADED)
        out[(check.needed_by, check.file, check.version)] = found
    return out


def compare(view: ImageView, closure: Closure, seen: Trace) -> list[str]:
    """How ``closure`` differs from what the loader printed (empty: they agree)."""
    problems = []
    mine = ours(closure)
    if closure.failed or seen.error:
        stopped = bool(closure.failed) or bool(closure.unmet_versions)
        if stopped != bool(seen.error):
            problems.append(f"ours failed={closure.failed}, loader error={seen.error!r}")
        if closure.failed:
            return problems
    if mine != seen.libraries:
        diff = {
            name: (mine.get(name), seen.libraries.get(name))
            for name in sorted(set(mine) | set(seen.libraries))
            if mine.get(name) != seen.libraries.get(name)
        }
        problems.append(f"libraries (ours, loader): {diff}")
    traced = {}
    for (owner, file, version), found in seen.versions.items():
        real = resolve(view, owner)
        traced[(real, file, version)] = found
    if _versions(closure) != traced:
        mine_v = _versions(closure)
        diff_v = {
            key: (mine_v.get(key), traced.get(key))
            for key in sorted(set(mine_v) | set(traced))
            if mine_v.get(key) != traced.get(key)
        }
        problems.append(f"versions (ours, loader): {diff_v}")
    return problems


def agreement(root: Path, resolver: ClosureResolver, paths: Sequence[str]) -> Report:
    """Compare the resolver with ``ld.so --list`` run inside ``root`` for each of ``paths``."""
    report = Report(0, [])
    for path, closure in zip(paths, resolver.closures(paths), strict=True):
        if (
            closure.info is not None
            and closure.info.interpreter is None
            and not closure.info.needed
        ):
            continue  # static or static-pie: nothing to load, and the loader cannot trace it
        seen = trace(root, [path], explicit=True, cwd=resolver.config.cwd)
        report.checked += 1
        report.versions_checked += len(closure.versions)
        report.disagreements += [f"{path}: {p}" for p in compare(resolver.view, closure, seen)]
    return report
