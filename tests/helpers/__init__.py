"""Helpers shared by the test suite: starting real components, building test programs,
running the CLI, and the fail-in-CI/skip-elsewhere rule for missing components."""

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
