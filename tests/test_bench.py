"""The benchmark harness: measurement, rows, the table and module discovery."""

from __future__ import annotations

import importlib.util
import resource
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str) -> ModuleType:
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    spec = importlib.util.spec_from_file_location(name, BENCH_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


common = _load("common")
runner = _load("run")


def test_measure_command_reports_runs_and_memory() -> None:
    stats = common.measure(["true"], repeat=3)
    assert stats.runs == 3
    assert stats.min_s <= stats.median_s <= stats.max_s
    assert stats.peak_rss_kib is not None and stats.peak_rss_kib > 0


def test_measure_failing_command_raises_with_stderr() -> None:
    with pytest.raises(common.BenchError, match="oops"):
        common.measure(["sh", "-c", "echo oops >&2; exit 3"], repeat=1)


def test_isolated_callable_reports_its_own_peak() -> None:
    stats = common.measure(lambda: bytearray(64 * 1024 * 1024), repeat=1, isolate=True)
    assert stats.peak_rss_kib is not None and stats.peak_rss_kib >= 64 * 1024


def test_row_ratio_and_coercion() -> None:
    row = common.Row.coerce({"benchmark": "b", "ours": 2.0, "peer": 4.0, "speed": "x"})
    assert row.ratio == 0.5
    assert row.notes == "speed=x"
    assert common.Row("b", ours=1.0).ratio is None
    with pytest.raises(TypeError, match="benchmark"):
        common.Row.coerce({"ours": 1.0})


def test_table_has_the_fixed_columns() -> None:
    table = common.markdown_table([common.Row("a|b", ours=1.5, peer=3.0, target="<= 1")])
    header, rule, line = table.splitlines()
    assert [c.strip() for c in header.strip("|").split("|")] == list(common.COLUMNS)
    assert set(rule) <= {"|", "-"}
    assert "a\\|b" in line and "0.50x" in line


def test_failing_module_becomes_an_error_row(tmp_path: Path) -> None:
    (tmp_path / "bench_good.py").write_text(
        "def run(ctx):\n    return [{'benchmark': 'good', 'ours': 1.0}]\n"
    )
    (tmp_path / "bench_bad.py").write_text("def run(ctx):\n    raise RuntimeError('boom')\n")
    (tmp_path / "helper.py").write_text("")
    paths = runner.discover(tmp_path)
    assert [p.stem for p in paths] == ["bench_bad", "bench_good"]
    ctx = common.Context(repeat=1, quick=True, workdir=tmp_path)
    bad_rows, bad_ok = runner.run_module(paths[0], ctx)
    good_rows, good_ok = runner.run_module(paths[1], ctx)
    assert not bad_ok and "boom" in bad_rows[0].notes
    assert good_ok and good_rows[0].ours == 1.0


peers = _load("peers")
sizes = _load("bench_sizes")


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_peer_tools_keep_their_store_under_the_scratch_dir(tmp_path: Path) -> None:
    archive = tmp_path / "builder.tar"
    with peers.containers_tool(
        "buildah", tmp_path / "buildah", [(archive, "distroless/builder-go:1.24-debian13")],
        dry_run=True,
    ) as tool:  # fmt: skip
        pull, tag = tool.calls
        assert pull[-2:] == ["-q", f"docker-archive:{archive}"]
        assert tag[-1] == "docker.io/distroless/builder-go:1.24-debian13"
        for argv in tool.calls:
            assert Path(_flag(argv, "--root")).is_relative_to(tmp_path)
            # podman refuses a runroot longer than 50 characters
            assert len(_flag(argv, "--runroot")) < 50
            assert _flag(argv, "--storage-driver") == peers.DRIVERS[0]
        storage = Path(tool.env["CONTAINERS_STORAGE_CONF"]).read_text()
        assert str(tmp_path) in storage
        assert (
            "unqualified-search-registries = []"
            in Path(tool.env["CONTAINERS_REGISTRIES_CONF"]).read_text()
        )
        run_base = tool.run_base
        assert run_base.is_dir()
    assert not run_base.exists() and not tool.base.exists()


def test_buildah_rows_time_plain_bud_cold_and_layers_warm(tmp_path: Path) -> None:
    timed: list[list[str]] = []

    def fake_measure(argv: list[str], **_: object) -> object:
        timed.append(argv)
        seconds = 4.0 if "--layers" in argv else 8.0
        return common.Stats(runs=1, median_s=seconds, min_s=seconds, max_s=seconds,
                            peak_rss_kib=None)  # fmt: skip

    ours = common.Stats(runs=1, median_s=2.0, min_s=2.0, max_s=2.0, peak_rss_kib=None)
    tool = peers.ContainersTool("buildah", "/usr/bin/buildah", tmp_path, "vfs", tmp_path)
    rows = peers.buildah_build_rows(
        tool, tmp_path / "ctx", cold=ours, warm=ours, cold_name="cold", warm_name="warm",
        repeat=1, measure_fn=fake_measure,
    )  # fmt: skip
    cold, warm = timed
    assert "--layers" not in cold and "--layers" in warm
    for argv in timed:
        assert {"--pull=never", "chroot", "host"} <= set(argv)
        assert argv[-1] == str(tmp_path / "ctx")
    assert [(r.benchmark, r.ratio) for r in rows] == [("cold", 0.25), ("warm", 0.5)]
    assert "buildah" in rows[0].peer_name and "vfs" in rows[0].peer_name
    assert rows[1].peer_name.endswith("--layers")


def test_podman_run_is_the_docker_run_row_with_runc_and_no_network(tmp_path: Path) -> None:
    tool = peers.ContainersTool(
        "podman", "/usr/bin/podman", tmp_path, "overlay", tmp_path, dry_run=True
    )
    peers.podman_run_stats(tool, "bench-hello:latest", repeat=1)
    (argv,) = tool.calls
    assert _flag(argv, "--runtime") == "runc"
    assert _flag(argv, "--cgroup-manager") == "cgroupfs"
    run = argv[argv.index("run") :]
    assert run[:6] == ["run", "--rm", "--pull", "never", "--network", "none"]
    assert run[-1] == "bench-hello:latest"
    # the container gets this process's limits, which runc is allowed to set
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert f"nofile={soft}:{hard}" in run


def test_docker_name_qualifies_as_docker_does() -> None:
    assert peers.docker_name("hello:1") == "docker.io/library/hello:1"
    assert peers.docker_name("distroless/base") == "docker.io/distroless/base"
    assert peers.docker_name("gcr.io/distroless/base:latest") == "gcr.io/distroless/base:latest"
    assert peers.docker_name("localhost/x:1") == "localhost/x:1"


def test_size_rows_compare_only_with_published_figures_of_the_same_release() -> None:
    rows = sizes.size_rows(
        {
            "static": sizes.Sizes(docker=2_094_235, podman=3_160_000, compressed=700_000,
                                  layers=5),
            "base": sizes.Sizes(docker=21_788_495, podman=None, compressed=8_600_000, layers=9),
        }
    )  # fmt: skip
    static, base = rows
    assert static.unit == base.unit == "MB"
    assert static.ours == 2.094235
    assert static.peer == 2 * (1 << 20) / 1e6 and "static-debian12" in static.peer_name
    assert static.ratio is not None and 0.99 < static.ratio < 1.0
    assert "podman images 3.16 MB" in static.notes and "compressed 0.67 MiB" in static.notes
    assert base.peer is None and base.ratio is None and "podman" not in base.notes


def test_blob_bytes_served_reads_the_registry_access_log(tmp_path: Path) -> None:
    """The shared-cache rows count what the registry sent from its combined-format log."""
    from tests.helpers.registry import Registry, blob_bytes_served

    digest = "sha256:" + "ab" * 32
    (tmp_path / "registry-0.log").write_text(
        f'127.0.0.1 - - [02/Dec/2026:01:00:00 +0000] "GET /v2/cache/x/blobs/{digest} HTTP/1.1"'
        ' 200 1234 "" "distroless"\n'
        f'127.0.0.1 - - [02/Dec/2026:01:00:01 +0000] "HEAD /v2/cache/x/blobs/{digest} HTTP/1.1"'
        ' 200 0 "" "distroless"\n'
        '127.0.0.1 - - [02/Dec/2026:01:00:02 +0000] "GET /v2/cache/x/manifests/main HTTP/1.1"'
        ' 200 900 "" "distroless"\n'
    )
    (tmp_path / "registry-1.log").write_text(
        f'127.0.0.1 - - [x] "GET /v2/other/blobs/{digest} HTTP/1.1" 200 1000 "" "docker"\n'
    )
    reg = Registry(url="127.0.0.1:1", root=tmp_path, auth=None)
    assert blob_bytes_served(reg) == {digest: 2234}
