"""Every case under cases/ built by the test Docker engine (BuildKit) and by ``distroless
build``; the saved images must agree on config and flattened filesystem, and where docker
refuses a Dockerfile we must refuse it too, in one line naming the line, leaving the store as
it was.  How a case is described: harness.Case; what differs today: README.md.

The bases are made once per run: a busybox root filesystem imported into the engine, a
100-layer image on top of it loaded from a hand-written docker-archive, and the images under
bases/ built by docker; each is ``docker save``-d and loaded into one template store.  The
cases are built before the first of them is checked, several at a time (docker's and our
builds of different cases overlap); ``ADD URL`` cases fetch from a server on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.dockerfile.differential.harness import (
    BASES,
    BUILD_TIME,
    BUSYBOX_REF,
    HTTP_FILES,
    MANY_LAYERS,
    MANY_LAYERS_REF,
    PATH_ENV,
    README,
    Case,
    EngineTurns,
    Outcome,
    all_cases,
    build_with_distroless,
    build_with_docker,
    busybox_rootfs,
    checked,
    compare,
    distroless,
    docker,
    docker_error_line,
    docker_save,
    error_problems,
    layered_archive,
)
from tests.helpers import DockerEngine, require_root, require_tool

# The cases build images with a busybox shell on purpose.
pytestmark = pytest.mark.unsafe_images

CASES = all_cases()
INSTRUCTIONS = frozenset(
    {"add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck"}
    | {"label", "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume"}
    | {"workdir"}
)
# Cases in flight at once, and how many of them may be in docker at once (the old engine gets
# flaky with more): our builds of some cases overlap docker's builds of others.
WORKERS = int(os.environ.get("DISTROLESS_DIFF_WORKERS", "6"))
DOCKER_WORKERS = int(os.environ.get("DISTROLESS_DIFF_DOCKER_WORKERS", "3"))


class KnownDifference(AssertionError):
    """The case differs from docker in the way its case.yaml records."""


def _param(case: Case) -> object:
    marks = []
    if case.xfail:
        marks.append(pytest.mark.xfail(strict=True, reason=case.xfail, raises=KnownDifference))
    return pytest.param(case, id=case.name, marks=marks)


@dataclass
class Pair:
    docker: Outcome
    ours: Outcome


@pytest.fixture(scope="module")
def template_store(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the bases, byte for byte the images the engine holds under the same
    names."""
    require_root()
    require_tool("runc")
    busybox = require_tool("busybox", "/bin/busybox")
    work = tmp_path_factory.mktemp("diff-bases")
    store = work / "store"
    rootfs = busybox_rootfs(work / "rootfs.tar", busybox)
    checked(
        docker(docker_engine, "import", "--change", f"ENV {PATH_ENV}", rootfs, BUSYBOX_REF),
        "import",
    )
    refs = [BUSYBOX_REF]
    deep = layered_archive(work / "many-layers.tar", rootfs, MANY_LAYERS_REF, MANY_LAYERS)
    checked(docker(docker_engine, "load", "-i", deep), f"docker load {MANY_LAYERS_REF}")
    refs.append(MANY_LAYERS_REF)
    for base in sorted(p for p in BASES.iterdir() if p.is_dir()):
        ref = f"difftest/{base.name}:latest"
        checked(docker(docker_engine, "build", "-q", "--network=host", "-t", ref, base), ref)
        refs.append(ref)
    for ref in refs:
        archive = work / (ref.replace("/", "_").replace(":", "_") + ".tar")
        docker_save(docker_engine, ref, archive, EngineTurns())
        checked(distroless(store, "load", "-i", archive), f"distroless load {ref}")
    # A store that has built before: an error case then shows what *it* changed, not the
    # directories and unpacked base layers any first build sets up.
    warm = work / "warm"
    warm.mkdir()
    (warm / "Dockerfile").write_text(f"FROM {BUSYBOX_REF}\nRUN true\nCOPY Dockerfile /\n")
    checked(distroless(store, "build", "-q", "-t", "difftest/warm", warm), "warm-up build")
    return store


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are not worth a line each in the test output."""


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 serving http/ (both builders fetch from the host)."""
    handler = functools.partial(_QuietHandler, directory=str(HTTP_FILES))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join()


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest,
    docker_engine: DockerEngine,
    template_store: Path,
    http_base: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Pair | str]]:
    """Build every selected case with both builders, ``WORKERS`` cases at a time."""
    selected = [
        item.callspec.params["case"]
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.function is test_case_matches_docker
    ]
    root = tmp_path_factory.mktemp("diff-cases")
    docker_slots = threading.BoundedSemaphore(DOCKER_WORKERS)
    turns = EngineTurns()

    def build(case: Case) -> tuple[str, Pair | str]:
        work = root / case.name
        work.mkdir()
        if case.http:
            case = dataclasses.replace(case, build_args={**case.build_args, "HTTP_BASE": http_base})
        try:
            with docker_slots:
                theirs = build_with_docker(docker_engine, case, work, turns)
            pair = Pair(docker=theirs, ours=build_with_distroless(template_store, case, work))
            if _unexpected(case, _problems(case, pair)):
                # Engine 20.10 running several builds now and then drops one step's change
                # from its image (EngineTurns); a disagreement is reported only if a second,
                # uncached docker build of the case, with no other build running, shows it too.
                (work / "again").mkdir()
                with docker_slots, turns.alone():
                    again = build_with_docker(
                        docker_engine, case, work / "again", turns, no_cache=True
                    )
                pair = Pair(docker=again, ours=pair.ours)
            return case.name, pair
        except Exception as exc:  # a harness failure fails this case only, with its reason
            return case.name, f"{type(exc).__name__}: {exc}"

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = dict(pool.map(build, selected))
    elapsed = time.monotonic() - started
    request.config.stash[BUILD_TIME] = (len(selected), elapsed)
    yield results


def _problems(case: Case, pair: Pair | str) -> list[str]:
    """Everything that makes this case's two builds disagree, as message lines."""
    if isinstance(pair, str):
        return [f"the harness could not build the case: {pair}"]
    if case.error_line is not None:
        if pair.docker.ok:
            return ["docker builds this case: it is no error case"]
        named = docker_error_line(pair.docker.output)
        if named not in (None, case.error_line):
            return [f"docker names line {named}:", pair.docker.output]
        return error_problems(case, pair.ours)
    if not pair.docker.ok:
        return ["docker cannot build the case:", pair.docker.output]
    if not pair.ours.ok:
        return [f"ours failed ({pair.ours.exit_code}): {pair.ours.output}"]
    assert pair.docker.image is not None and pair.ours.image is not None
    return compare(pair.docker.image, pair.ours.image)


def _unexpected(case: Case, problems: list[str]) -> bool:
    """Whether these problems fail the case: any at all, or not the ones its xfail records."""
    if not problems:
        return False
    report = "\n".join(problems)
    return not (case.xfail and all(fragment in report for fragment in case.differs))


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case_matches_docker(case: Case, outcomes: dict[str, Pair | str]) -> None:
    """A case matches docker; a known difference must show exactly as its ``differs`` says.

    A case marked ``xfail`` raises :class:`KnownDifference` (the only failure its mark
    expects) when every ``differs`` fragment is in the report; any other way of differing is
    an ordinary failure, and matching docker is an XPASS that fails the run.
    """
    problems = _problems(case, outcomes[case.name])
    if not problems:
        return
    report = "\n".join(problems)
    if not _unexpected(case, problems):
        raise KnownDifference(report)
    pytest.fail(report, pytrace=False)


# --- the corpus itself (no engine needed) ------------------------------------------------------


def test_corpus_has_at_least_sixty_cases() -> None:
    assert len(CASES) >= 60


def test_every_instruction_is_used_by_some_case() -> None:
    seen: set[str] = set()
    for case in CASES:
        text = (case.path / case.dockerfile).read_text(encoding="utf-8", errors="replace")
        seen |= {m.lower() for m in re.findall(r"^\s*([A-Za-z]+)\b", text, re.M)}
    assert seen >= INSTRUCTIONS, sorted(INSTRUCTIONS - seen)


def test_readme_lists_exactly_the_expected_failures() -> None:
    """The table in README.md names each xfail case once, and no other case."""
    rows = re.findall(r"^\| `([a-z0-9_]+)` \|", README.read_text(encoding="utf-8"), re.M)
    assert len(rows) == len(set(rows)), "a case is listed twice"
    assert set(rows) == {c.name for c in CASES if c.xfail}


def test_reference_cases_say_why() -> None:
    """A case that docker builds from a stand-in Dockerfile must explain the stand-in."""
    for case in CASES:
        if case.reference:
            assert len(case.notes.strip()) > 40, case.name
