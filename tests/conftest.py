"""Fixtures shared by the whole suite.

Component fixtures (``docker_engine``, ``registry``, ``registry_factory``) start the real
programs and follow the house rule: if a component cannot start, the test FAILS when ``CI``
is set and is SKIPPED with the reason elsewhere. Tests under ``tests/integration/`` and
``tests/e2e/`` and tests using a component fixture are marked ``integration`` automatically;
``--skip-integration`` or ``DISTROLESS_SKIP_INTEGRATION=1`` deselects them for quick local
loops (ignored when ``CI`` is set: CI always runs everything).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import (
    Cli,
    CommandFailed,
    DockerEngine,
    EngineStartError,
    Registry,
    RegistryFactory,
    RegistryStartError,
    go_build,
    hello_go_source,
    in_ci,
    require_root,
    require_tool,
    unavailable,
)
from tests.helpers import (
    docker_engine as start_docker_engine,
)
from tests.helpers import (
    registry as start_registry,
)
from tests.helpers.safety import SafetyLedger, find_stores

PACKAGE_CACHE = Path(
    os.environ.get("DISTROLESS_TEST_PACKAGE_CACHE", "/var/tmp/distroless-test-cache/distroless")
)
COMPONENT_FIXTURES = frozenset({"docker_engine", "registry", "registry_factory"})
_TESTS_DIR = Path(__file__).parent
_INTEGRATION_DIRS = (_TESTS_DIR / "integration", _TESTS_DIR / "e2e")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--skip-integration",
        action="store_true",
        default=False,
        help="deselect tests marked integration (also: DISTROLESS_SKIP_INTEGRATION=1)",
    )


def _skip_integration(config: pytest.Config) -> bool:
    env = os.environ.get("DISTROLESS_SKIP_INTEGRATION", "").strip().lower()
    return bool(config.getoption("--skip-integration")) or env not in {"", "0", "false", "no"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark integration tests by location or fixture use, then deselect them if asked."""
    for item in items:
        path = Path(str(item.path))
        fixtures = set(getattr(item, "fixturenames", ()))
        in_dir = any(path.is_relative_to(d) for d in _INTEGRATION_DIRS)
        if in_dir or fixtures & COMPONENT_FIXTURES:
            item.add_marker(pytest.mark.integration)
    if not _skip_integration(config):
        return
    if in_ci():
        return  # CI runs everything; a stray variable must not hollow out the suite
    kept = [i for i in items if i.get_closest_marker("integration") is None]
    dropped = [i for i in items if i.get_closest_marker("integration") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# --- environment ----------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point the store and caches at per-session temp dirs so no test touches the user's."""
    base = tmp_path_factory.mktemp("env")
    values = {
        "DISTROLESS_ROOT": str(base / "store"),
        "DISTROLESS_CACHE": str(base / "cache"),
        "XDG_DATA_HOME": str(base / "xdg-data"),
        "XDG_CACHE_HOME": str(base / "xdg-cache"),
        # the user's config.toml may hold mirrors and a signature policy: never the tests'
        "XDG_CONFIG_HOME": str(base / "xdg-config"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in values.items():
            mp.setenv(key, value)
        yield


@pytest.fixture(scope="session")
def package_cache() -> Path:
    """A package cache that survives runs (/var/tmp/distroless-test-cache/distroless).

    Tests that download Debian packages use it so repeated local runs reuse the .debs:
    ``run_cli(..., env={"DISTROLESS_CACHE": str(package_cache)})``, pass it as the cache dir
    to library calls, or request ``use_package_cache`` to set the variable for one test.
    """
    PACKAGE_CACHE.mkdir(parents=True, exist_ok=True)
    return PACKAGE_CACHE


@pytest.fixture
def use_package_cache(monkeypatch: pytest.MonkeyPatch, package_cache: Path) -> Path:
    """Set ``DISTROLESS_CACHE`` to the shared :func:`package_cache` for this test."""
    monkeypatch.setenv("DISTROLESS_CACHE", str(package_cache))
    return package_cache


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    """A fresh, empty store directory for one test."""
    root = tmp_path / "store"
    root.mkdir()
    return root


@pytest.fixture
def cli(store_root: Path) -> Cli:
    """The CLI bound to :func:`store_root`; see :class:`Cli`."""
    return Cli(store_root)


# --- what the suite builds stays distroless ---------------------------------------------------

_SAFETY = SafetyLedger()


@pytest.fixture(autouse=True)
def _built_images_are_distroless(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run ``check`` on every image a test left in a store under its ``tmp_path``."""
    yield
    if any(
        request.node.get_closest_marker(m) for m in ("unsafe_images", "bases_checked_elsewhere")
    ):
        return
    tmp = getattr(request.node, "funcargs", {}).get("tmp_path")
    if not isinstance(tmp, Path):
        return
    problems = [p for root in find_stores(tmp) for p in _SAFETY.check_store(root)]
    if problems:
        shown = "\n  ".join(problems[:20])
        pytest.fail(f"images built by this test are not distroless:\n  {shown}", pytrace=False)


# --- real components ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    """A private dockerd for the whole session (own data root and socket, no bridge/iptables).

    ``engine.run("run", "--rm", "--network", "none", ref)`` -> CompletedProcess (raises
    CommandFailed with stderr), ``engine.load(path)`` -> loaded refs, ``engine.host``.
    """
    require_root()
    with contextlib.ExitStack() as stack:
        try:
            engine = stack.enter_context(start_docker_engine(tmp_path_factory.mktemp("dockerd")))
        except (EngineStartError, FileNotFoundError) as exc:
            unavailable(f"cannot start dockerd: {exc}")
        yield engine


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry without auth for the whole session; use a unique repository name per test."""
    with contextlib.ExitStack() as stack:
        try:
            reg = stack.enter_context(start_registry(tmp_path_factory.mktemp("registry")))
        except (RegistryStartError, FileNotFoundError) as exc:
            unavailable(f"cannot start docker-registry: {exc}")
        yield reg


@pytest.fixture
def registry_factory(tmp_path: Path) -> Iterator[RegistryFactory]:
    """Start extra registries for one test: ``registry_factory(htpasswd=("user", "pw"))``."""
    with contextlib.ExitStack() as stack:
        count = 0

        def start(htpasswd: tuple[str, str] | None = None) -> Registry:
            nonlocal count
            count += 1
            root = tmp_path / f"registry-{count}"
            try:
                return stack.enter_context(start_registry(root, htpasswd=htpasswd))
            except (RegistryStartError, FileNotFoundError) as exc:
                unavailable(f"cannot start docker-registry: {exc}")

        yield start


@pytest.fixture(scope="session")
def hello_go_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static amd64 Go binary printing ``tests.helpers.HELLO_LINE`` (then its args, if any)."""
    require_tool("go")
    out = tmp_path_factory.mktemp("go") / "hello"
    try:
        return go_build(hello_go_source(), out)
    except CommandFailed as exc:
        pytest.fail(f"building the Go test program failed: {exc}", pytrace=False)
