"""Hostile containers: what an image's entrypoint or a Dockerfile's RUN must not reach.

Each test plays one attack with the real runtime: reaching a service on the host's
loopback, binding a host port, sniffing with a packet socket, creating a user namespace
to mount file systems, an image whose links point ``-u`` or ``-v`` at host paths.  The
``distroless`` command runs inside a network namespace of the test's own
(:mod:`tests.runtime.netns`), so "the host" is that namespace and no traffic leaves it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from distroless.layers.entry import Entry
from distroless.oci.models import ContainerConfig
from distroless.store import Store
from tests.helpers import distroless_executable, require_root, require_tool
from tests.helpers.cli import Result
from tests.runtime.images import base_entries, build_probe, write_image
from tests.runtime.netns import OUTSIDE_ADDRESS, OwnNetwork

pytestmark = pytest.mark.integration

HOST_SECRET = b"host-only-service-7c41"
OUTSIDE = b"outside-server-91aa"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with ``probe`` (the runtime tests' probe program) and hostile images."""
    require_root()
    require_tool("runc")
    require_tool("slirp4netns")
    base = tmp_path_factory.mktemp("hostile-sandbox")
    store = Store(base / "store")
    probe = build_probe(base / "probe")
    write_image(store, "probe:latest", [base_entries(probe)],
                ContainerConfig(entrypoint=("/probe",)))  # fmt: skip
    return store.root


@pytest.fixture
def net(tmp_path: Path) -> Iterator[OwnNetwork]:
    network = OwnNetwork(tmp_path)
    try:
        yield network
    finally:
        network.close()


def _distroless(root: Path, net: OwnNetwork, *args: str | os.PathLike[str]) -> list[str]:
    return net.argv([distroless_executable(), "--root", root, *args])


def _run(
    root: Path, net: OwnNetwork, *args: str | os.PathLike[str], timeout: float = 120
) -> Result:
    proc = subprocess.run(
        _distroless(root, net, *args), capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _build(root: Path, net: OwnNetwork, ctx: Path, dockerfile: str, *flags: str) -> Result:
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    return _run(root, net, "build", "-q", "--no-cache", "--no-sbom", *flags, ctx)


# -- network ---------------------------------------------------------------------------


def test_container_cannot_reach_a_service_on_the_host_loopback(root: Path, net: OwnNetwork) -> None:
    port = net.serve("127.0.0.1", HOST_SECRET)
    for address in ("127.0.0.1", "10.0.2.2"):  # its own loopback; slirp's host alias
        result = _run(root, net, "run", "--rm", "probe:latest", "connect", f"{address}:{port}")
        assert result.exit_code == 3, (address, result.stdout, result.stderr)
        assert HOST_SECRET.decode() not in result.stdout
    opted_in = _run(root, net, "run", "--rm", "--network", "host", "probe:latest", "connect",
                    f"127.0.0.1:{port}")  # fmt: skip
    assert opted_in.stdout.strip() == f"connected: {HOST_SECRET.decode()}", opted_in.stderr


def test_container_reaches_outside_servers_through_user_mode_networking(
    root: Path, net: OwnNetwork
) -> None:
    port = net.serve(OUTSIDE_ADDRESS, OUTSIDE)
    result = _run(root, net, "run", "--rm", "probe:latest", "connect", f"{OUTSIDE_ADDRESS}:{port}")
    assert result.stdout.strip() == f"connected: {OUTSIDE.decode()}", result.stderr
    devices = _run(root, net, "run", "--rm", "probe:latest", "netdevs").check()
    assert devices.stdout.split() == ["lo", "tap0"]
    resolv = _run(root, net, "run", "--rm", "probe:latest", "cat", "/etc/resolv.conf").check()
    assert resolv.stdout == "nameserver 10.0.2.3\n"
    none = _run(root, net, "run", "--rm", "--network", "none", "probe:latest", "connect",
                f"{OUTSIDE_ADDRESS}:{port}")  # fmt: skip
    assert none.exit_code == 3


def _listening_container(
    root: Path, net: OwnNetwork, port: int, *flags: str
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        _distroless(root, net, "run", "--rm", "-i", *flags, "probe:latest", "listen", str(port)),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "listening":
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the container did not listen: {line!r} {err}")
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()  # the probe exits when its stdin closes
    assert proc.wait(timeout=60) == 0


def test_container_cannot_bind_host_ports(root: Path, net: OwnNetwork) -> None:
    port = net.free_port()
    proc = _listening_container(root, net, port)
    try:
        assert net.connect("127.0.0.1", port) is None  # the port is the container's own
    finally:
        _stop(proc)
    proc = _listening_container(root, net, port, "--network", "host")
    try:
        assert net.connect("127.0.0.1", port) == b"from the container"
    finally:
        _stop(proc)


@pytest.mark.parametrize("network", ["private", "host"])
def test_container_cannot_open_packet_sockets_to_sniff_traffic(
    root: Path, net: OwnNetwork, network: str
) -> None:
    result = _run(root, net, "run", "--rm", "--network", network, "probe:latest", "sniff",
                  "Authorization")  # fmt: skip
    assert result.exit_code == 3, result.stdout
    assert result.stdout.strip() == "packet socket failed: operation not permitted"


def test_run_step_cannot_reach_the_host_loopback_unless_allowed(
    root: Path, net: OwnNetwork, tmp_path: Path
) -> None:
    port = net.serve("127.0.0.1", HOST_SECRET)
    outside = net.serve(OUTSIDE_ADDRESS, OUTSIDE)
    connect = f'FROM probe:latest\nRUN {{}}["/probe", "connect", "127.0.0.1:{port}"]\n'
    default = _build(root, net, tmp_path / "a", connect.format(""))
    assert default.exit_code == 9 and "exited with code 3" in default.stderr
    refused = _build(root, net, tmp_path / "b", connect.format("--network=host "))
    assert refused.exit_code == 9
    assert refused.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'b' / 'Dockerfile'}:2: RUN --network=host shares the host's "
        "network with the step; allow it with `distroless build --allow network.host`"
    ]
    allowed = _build(root, net, tmp_path / "c", connect.format("--network=host "),
                     "--allow", "network.host")  # fmt: skip
    assert allowed.exit_code == 0, allowed.stderr
    fetch = f'FROM probe:latest\nRUN ["/probe", "connect", "{OUTSIDE_ADDRESS}:{outside}"]\n'
    assert _build(root, net, tmp_path / "d", fetch).exit_code == 0
    offline = fetch.replace("RUN ", "RUN --network=none ")
    assert _build(root, net, tmp_path / "e", offline).exit_code == 9


# -- seccomp ---------------------------------------------------------------------------


def test_container_cannot_create_a_user_namespace_to_mount(root: Path, net: OwnNetwork) -> None:
    confined = _run(root, net, "run", "--rm", "-u", "65532", "probe:latest", "userns-mount")
    assert confined.exit_code == 3
    assert "operation not permitted" in confined.stdout
    unconfined = _run(root, net, "run", "--rm", "-u", "65532", "--security-opt",
                      "seccomp=unconfined", "probe:latest", "userns-mount")  # fmt: skip
    assert unconfined.stdout.strip() == "mounted", unconfined.stderr


def test_every_container_has_no_new_privileges_and_the_filter(root: Path, net: OwnNetwork) -> None:
    status = _run(root, net, "run", "--rm", "probe:latest", "status", "NoNewPrivs", "Seccomp")
    assert status.stdout.split("\n")[:2] == ["NoNewPrivs: 1", "Seccomp: 2"]
    off = _run(root, net, "run", "--rm", "--security-opt", "seccomp=unconfined", "probe:latest",
               "status", "NoNewPrivs", "Seccomp")  # fmt: skip
    assert off.stdout.split("\n")[:2] == ["NoNewPrivs: 1", "Seccomp: 0"]
    bad = _run(root, net, "run", "--rm", "--security-opt", "apparmor=x", "probe:latest")
    assert bad.exit_code == 2 and "unsupported --security-opt" in bad.stderr


def test_run_steps_stay_confined(root: Path, net: OwnNetwork, tmp_path: Path) -> None:
    userns = _build(root, net, tmp_path / "a",
                    'FROM probe:latest\nRUN ["/probe", "userns-mount"]\n')  # fmt: skip
    assert userns.exit_code == 9 and "exited with code 3" in userns.stderr
    insecure_run = 'FROM probe:latest\nRUN --security=insecure ["/probe", "hello"]\n'
    insecure = _build(root, net, tmp_path / "b", insecure_run)
    assert insecure.exit_code == 9 and "always run confined" in insecure.stderr


# -- image paths -----------------------------------------------------------------------


def _image(root: Path, name: str, entries: list[Entry]) -> str:
    probe = (root.parent / "probe" / "probe").read_bytes()
    layer = [Entry.file("probe", probe, mode=0o755), *entries]
    write_image(Store(root), name, [layer], ContainerConfig(entrypoint=("/probe",)))
    return name


def test_user_names_never_resolve_against_host_files(
    root: Path, net: OwnNetwork, tmp_path: Path
) -> None:
    decoy = tmp_path / "decoy-etc"
    decoy.mkdir()
    (decoy / "passwd").write_text("hostonly:x:4242:4242::/:/sbin/nologin\n")
    (decoy / "group").write_text("hostonly:x:4242:\n")
    name = _image(root, "hostile/etc-link:1", [Entry.symlink("etc", str(decoy))])
    result = _run(root, net, "run", "--rm", "--network", "none", "-u", "hostonly", name, "id")
    assert result.exit_code == 10, result.stdout
    assert "'hostonly' is not in the image's /etc/passwd" in result.stderr
    linked = _image(root, "hostile/passwd-link:1", [
        Entry.directory("etc"), Entry.symlink("etc/passwd", str(decoy / "passwd")),
    ])  # fmt: skip
    result = _run(root, net, "run", "--rm", "--network", "none", "-u", "hostonly", linked, "id")
    assert result.exit_code == 10


def test_volume_destinations_resolve_inside_the_image(
    root: Path, net: OwnNetwork, tmp_path: Path
) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "f").write_text("from the volume")
    over_root = _image(root, "hostile/data-root:1", [Entry.symlink("data", "/")])
    result = _run(root, net, "run", "--rm", "--network", "none", "-v", f"{volume}:/data",
                  over_root, "hello")  # fmt: skip
    assert result.exit_code == 10
    assert result.stderr.strip().splitlines() == [
        "error: the mount destination '/data' resolves to the container's root in this "
        "image; mount somewhere else"
    ]
    moved = _image(root, "hostile/data-elsewhere:1",
                   [Entry.symlink("data", "../../srv/real")])  # fmt: skip
    result = _run(root, net, "run", "--rm", "--network", "none", "-v", f"{volume}:/data:ro",
                  moved, "cat", "/srv/real/f")  # fmt: skip
    assert result.stdout == "from the volume", result.stderr


# -- runtime failures ------------------------------------------------------------------


def test_runtime_failures_are_one_line_sandbox_errors(
    root: Path, net: OwnNetwork, tmp_path: Path
) -> None:
    missing = _run(root, net, "run", "--rm", "--network", "none", "--entrypoint", "/nope",
                   "probe:latest")  # fmt: skip
    assert missing.exit_code == 10
    assert missing.stderr.splitlines() == ["error: '/nope' was not found in the image"]
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "probe").write_bytes((root.parent / "probe" / "probe").read_bytes())
    (tools / "probe").chmod(0o755)
    from_volume = _run(root, net, "run", "--rm", "--network", "none", "-v", f"{tools}:/tools",
                       "--entrypoint", "/tools/probe", "probe:latest", "hello")  # fmt: skip
    assert from_volume.stdout.strip() == "hello from distroless", from_volume.stderr
    garbage = _image(root, "hostile/bad-elf:1",
                     [Entry.file("bad", b"\x7fELF" + b"\0" * 60, mode=0o755)])  # fmt: skip
    bad = _run(root, net, "run", "--rm", "--network", "none", "--entrypoint", "/bad", garbage)
    assert bad.exit_code == 10
    assert bad.stderr.splitlines() == [
        "error: '/bad' in the image is neither an ELF program nor a #! script (exec format error)"
    ]
    # what only the runtime knows it refuses (a mount inside /proc) comes from its log
    volume = tmp_path / "volume"
    volume.mkdir()
    for runtime in ("runc", "crun"):
        require_tool(runtime)
        result = _run(root, net, "run", "--rm", "--network", "none", "--runtime", runtime,
                      "-v", f"{volume}:/proc/evil", "probe:latest", "hello")  # fmt: skip
        assert result.exit_code == 10, (runtime, result.stderr)
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: {runtime} could not start the container:"), last
        assert "/proc/evil" in last
