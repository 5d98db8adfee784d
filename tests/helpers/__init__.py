"""Helpers shared by the test suite: real components, test programs, the CLI, and the rule
for missing components (fail when ``CI`` is set, skip with the reason elsewhere).

Fixtures (tests/conftest.py): ``docker_engine`` (session; ``.run(*args)``,
``.run_image(ref, *args)``, ``.load(path)``, ``.import_rootfs(tar, ref, *changes)``, ``.host``),
``registry`` (session; ``.url``,
``.ref(repo, tag)``, ``.get(path)``), ``registry_factory(htpasswd=(user, pw))`` (per test),
``hello_go_binary`` (prints ``HELLO_LINE``), ``store_root``, ``cli`` (``cli(*args)`` in-process,
``cli.subprocess(*args)``), ``package_cache`` / ``use_package_cache``. In tests/integration:
``hello_rootfs`` and ``hello_image``. Containers run with ``--network none`` or ``host``.
"""

from tests.helpers.build import HELLO_LINE, c_build, go_build, hello_go_source
from tests.helpers.cli import Cli, Result, distroless_executable, run_cli, run_cli_subprocess
from tests.helpers.docker import DockerEngine, EngineStartError, docker_engine
from tests.helpers.proc import CommandFailed, Timeout, run, wait_until
from tests.helpers.registry import (
    Registry,
    RegistryFactory,
    RegistryStartError,
    free_port,
    registry,
)
from tests.helpers.require import in_ci, require, require_root, require_tool, unavailable
from tests.helpers.rootfs import rootfs_tar
from tests.helpers.tools import skopeo, skopeo_inspect, umoci

__all__ = [
    "HELLO_LINE",
    "Cli",
    "CommandFailed",
    "DockerEngine",
    "EngineStartError",
    "Registry",
    "RegistryFactory",
    "RegistryStartError",
    "Result",
    "Timeout",
    "c_build",
    "distroless_executable",
    "docker_engine",
    "free_port",
    "go_build",
    "hello_go_source",
    "in_ci",
    "registry",
    "require",
    "require_root",
    "require_tool",
    "rootfs_tar",
    "run",
    "run_cli",
    "run_cli_subprocess",
    "skopeo",
    "skopeo_inspect",
    "umoci",
    "unavailable",
    "wait_until",
]
