"""The shared build cache between two stores standing for two CI runners.

Runner A builds and exports (``--cache-to``); runner B starts from an empty store and
imports (``--cache-from``).  RUN steps go to the fake runner, so what was executed is what
it was asked; the registry is the real reference registry the tests start.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from distroless.dockerfile.executor import BuildOptions, BuildResult, build_dockerfile
from distroless.dockerfile.resolve_base import BaseResolver
from distroless.dockerfile.shared_cache import CacheBackend, SharedCache
from distroless.reporter import RecordingReporter
from distroless.store import Store
from distroless.transports.build_cache import LOCAL_NAME, LocalCache, RegistryCache
from distroless.transports.registry.client import RetryPolicy
from distroless.transports.registry.endpoints import Registries
from distroless.transports.registry.pull import fetch_manifest
from tests.dockerfile.executor_helpers import FakeRunner, write_context
from tests.helpers import Registry
from tests.helpers.cli import run_cli
from tests.helpers.registry import RegistryFactory, RegistryStartError, free_port
from tests.helpers.registry import registry as start_registry

DOCKERFILE = """\
FROM scratch AS builder
WORKDIR /src
COPY main.txt ./
RUN build the program
COPY late.txt ./

FROM scratch
COPY --from=builder /ran-1 /app
COPY notes.txt /notes
"""


class Runner:
    """One CI runner: its own store, a fake sandbox, the events of its last build."""

    def __init__(self, root: Path) -> None:
        self.store = Store(root)
        self.fake = FakeRunner()
        self.reporter = RecordingReporter()

    def build(
        self,
        context: Path,
        sources: list[CacheBackend] | None = None,
        sink: CacheBackend | None = None,
        mode: str = "min",
    ) -> BuildResult:
        self.fake = FakeRunner()
        self.reporter = RecordingReporter()
        shared = SharedCache(sources or [], sink, self.reporter, mode=mode)
        return build_dockerfile(
            self.store,
            BuildOptions(context=context),
            resolver=BaseResolver(self.store, reporter=self.reporter),
            reporter=self.reporter,
            runner=self.fake,
            shared=shared,
        )

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [d for k, d in self.reporter.events if k == kind]

    def executed(self) -> list[str]:
        return [
            f"{d['instruction']}:{d['line']}"
            for d in self.events("step")
            if not d["cached"] and d["instruction"] != "FROM"
        ]

    def fetched(self) -> list[str]:
        return [d["digest"] for d in self.events("cache.fetch")]

    def warnings(self) -> list[str]:
        return [d["message"] for d in self.events("warning")]


@pytest.fixture
def context(tmp_path: Path) -> Path:
    return write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": DOCKERFILE,
            "main.txt": "v1",
            "late.txt": "late",
            "notes.txt": "notes",
        },
    )


@pytest.fixture
def registries() -> Any:
    with Registries(retry=RetryPolicy(attempts=1), timeout=10.0) as regs:
        yield regs


def _builder_only(a: Runner, result: BuildResult) -> set[str]:
    """Layers A made in the builder stage that the final image does not contain."""
    final = {str(d.digest) for d in a.store.read_manifest(result.descriptor).layers}
    assert not a.events("cache.fetch")  # A built everything itself
    made = {str(recorded.digest) for _, recorded in a.store.roots("build-cache")}
    assert made - final
    return made - final


def test_local_cache_a_fresh_runner_runs_nothing_and_fetches_only_the_final_layers(
    tmp_path: Path, context: Path
) -> None:
    a, b = Runner(tmp_path / "a"), Runner(tmp_path / "b")
    cache = tmp_path / "cache"
    first = a.build(context, sink=LocalCache(cache), mode="max")
    assert a.fake.steps, "runner A executes its RUN step"
    assert (cache / "index.json").is_file()
    index = json.loads((cache / "index.json").read_text())
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == [
        LOCAL_NAME
    ]

    second = b.build(context, sources=[LocalCache(cache)])
    assert b.fake.steps == []
    assert b.executed() == []
    assert second.descriptor.digest == first.descriptor.digest
    final = [d.digest for d in b.store.read_manifest(second.descriptor).layers]
    assert sorted(b.fetched()) == sorted(final)
    for digest in _builder_only(a, first):
        assert not b.store.has_blob(digest), "a builder layer was downloaded"

    # the fetched layers are local cache entries now: a rebuild downloads nothing
    third = b.build(context, sources=[LocalCache(cache)])
    assert b.executed() == [] and b.fetched() == []
    assert third.descriptor.digest == first.descriptor.digest


def test_an_edit_reruns_only_the_steps_after_it(tmp_path: Path, context: Path) -> None:
    a, b = Runner(tmp_path / "a"), Runner(tmp_path / "b")
    cache = LocalCache(tmp_path / "cache")
    a.build(context, sink=cache, mode="max")
    (context / "main.txt").write_text("v2")
    b.build(context, sources=[cache])
    # WORKDIR hits; COPY main.txt and everything after it in the builder re-run, then the
    # COPY --from of the changed builder; it makes the same bytes (the fake runner writes
    # the same layer), so the final COPY after it hits again
    assert b.executed() == ["COPY:3", "RUN:4", "COPY:5", "COPY:8"]
    assert len(b.fake.steps) == 1
    # the builder's WORKDIR layer was needed as a lower of the RUN that missed
    assert b.fetched()


def test_mode_min_leaves_the_builder_out(tmp_path: Path, context: Path) -> None:
    a, b = Runner(tmp_path / "a"), Runner(tmp_path / "b")
    cache = LocalCache(tmp_path / "cache")
    first = a.build(context, sink=cache)  # mode=min
    assert a.events("cache.export")[0]["steps"] == 2
    second = b.build(context, sources=[cache])
    assert b.executed() == ["WORKDIR:2", "COPY:3", "RUN:4", "COPY:5"]
    assert second.descriptor.digest == first.descriptor.digest


def test_registry_cache_between_two_runners(
    tmp_path: Path, context: Path, registry: Registry, registries: Registries
) -> None:
    a, b = Runner(tmp_path / "a"), Runner(tmp_path / "b")
    ref = registry.ref("cache/two-runners", "main")
    first = a.build(context, sink=RegistryCache(ref, registries), mode="max")
    assert a.warnings() == []
    assert a.events("cache.export")[0]["steps"] == 6
    second = b.build(context, sources=[RegistryCache(ref, registries)])
    assert b.fake.steps == [] and b.executed() == []
    assert second.descriptor.digest == first.descriptor.digest
    final = [d.digest for d in b.store.read_manifest(second.descriptor).layers]
    assert sorted(b.fetched()) == sorted(final)
    for digest in _builder_only(a, first):
        assert not b.store.has_blob(digest)

    # B exports too, to its own ref: the builder layers it never downloaded stay in the
    # record, because the registry already holds them in that repository
    c = Runner(tmp_path / "c")
    b.build(
        context,
        sources=[RegistryCache(ref, registries)],
        sink=RegistryCache(ref, registries),
        mode="max",
    )
    assert b.events("cache.export")[0]["steps"] == 6
    c.build(context, sources=[RegistryCache(ref, registries)])
    assert c.fake.steps == []


def test_an_unreachable_registry_is_a_warning_for_export_and_import(
    tmp_path: Path, context: Path, registries: Registries
) -> None:
    a = Runner(tmp_path / "a")
    nowhere = f"127.0.0.1:{free_port()}/cache/none:main"
    result = a.build(
        context,
        sources=[RegistryCache(nowhere, registries)],
        sink=RegistryCache(nowhere, registries),
        mode="max",
    )
    warnings = a.warnings()
    assert len(warnings) == 2
    assert warnings[0].startswith(f"cache {nowhere} not used:")
    assert warnings[1].startswith(f"cache {nowhere} not written:")
    assert a.fake.steps  # built normally
    assert a.store.has_blob(result.descriptor.digest)


def test_a_missing_or_foreign_cache_is_a_warning(
    tmp_path: Path, context: Path, registry: Registry, registries: Registries
) -> None:
    a = Runner(tmp_path / "a")
    a.build(context, sources=[RegistryCache(registry.ref("cache/absent", "x"), registries)])
    assert len(a.warnings()) == 1 and "not used" in a.warnings()[0]
    # an image is not a cache: pushed with the CLI, then named as --cache-from
    run_cli("build", "-t", "plain", "--no-sbom", context, root=tmp_path / "a").check()
    run_cli("push", "plain", registry.ref("cache/an-image"), root=tmp_path / "a").check()
    # (the cache is read on the first local miss: fresh stores, so that there is one)
    b = Runner(tmp_path / "b")
    b.build(context, sources=[RegistryCache(registry.ref("cache/an-image"), registries)])
    assert len(b.warnings()) == 1 and "is not a build cache" in b.warnings()[0]
    (tmp_path / "empty").mkdir()
    c = Runner(tmp_path / "c")
    c.build(context, sources=[LocalCache(tmp_path / "empty")])
    assert len(c.warnings()) == 1 and "not an OCI image layout" in c.warnings()[0]
    assert c.fake.steps


def _registry_blob(registry: Registry, digest: str) -> Path:
    hexa = digest.removeprefix("sha256:")
    return registry.root / "data/docker/registry/v2/blobs/sha256" / hexa[:2] / hexa / "data"


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_layer_that_does_not_match_its_digest_is_refused_and_the_step_built(
    tmp_path: Path, context: Path, registry_factory: RegistryFactory, registries: Registries
) -> None:
    registry = registry_factory()  # its own: the blob it damages is shared by content
    a, b = Runner(tmp_path / "a"), Runner(tmp_path / "b")
    ref = registry.ref("cache/tampered-layer", "main")
    first = a.build(context, sink=RegistryCache(ref, registries), mode="max")
    top = a.store.read_manifest(first.descriptor).layers[-1]  # COPY notes.txt
    _flip_last_byte(_registry_blob(registry, top.digest))
    second = b.build(context, sources=[RegistryCache(ref, registries)])
    assert second.descriptor.digest == first.descriptor.digest
    assert b.executed() == ["COPY:9"]
    assert b.fake.steps == []
    warnings = b.warnings()
    assert len(warnings) == 1 and "refused" in warnings[0] and "digest" in warnings[0]


def test_a_record_that_does_not_match_its_digest_is_refused_and_the_build_runs(
    tmp_path: Path, context: Path, registry_factory: RegistryFactory, registries: Registries
) -> None:
    registry = registry_factory()  # its own: the blob it damages is shared by content
    a, b = Runner(tmp_path / "a"), Runner(tmp_path / "b")
    ref = registry.ref("cache/tampered-record", "main")
    first = a.build(context, sink=RegistryCache(ref, registries), mode="max")
    client = registries.client(registries.origin(registry.url))
    manifest = fetch_manifest(client, "cache/tampered-record", "main")
    record = json.loads(manifest.data)["config"]["digest"]
    _flip_last_byte(_registry_blob(registry, record))
    second = b.build(context, sources=[RegistryCache(ref, registries)])
    assert second.descriptor.digest == first.descriptor.digest
    assert len(b.fake.steps) == 1
    warnings = b.warnings()
    assert len(warnings) == 1 and "not used" in warnings[0] and "digest" in warnings[0]


def test_a_record_that_lies_about_a_diff_id_is_refused(tmp_path: Path, context: Path) -> None:
    a, b = Runner(tmp_path / "a"), Runner(tmp_path / "b")
    cache_dir = tmp_path / "cache"
    first = a.build(context, sink=LocalCache(cache_dir), mode="max")
    # rewrite the record (and the manifest and index over it) with one diff_id changed
    from distroless.dockerfile.shared_cache import CacheRecord
    from distroless.layers.layer import Layer
    from distroless.oci.digest import parse_digest

    record = LocalCache(cache_dir).load()
    top = a.store.read_manifest(first.descriptor).layers[-1].digest
    wrong = parse_digest("sha256:" + "0" * 64)
    forged = {
        k: Layer(v.descriptor, wrong) if v.descriptor.digest == top else v
        for k, v in record.entries.items()
    }
    LocalCache(cache_dir).save(CacheRecord(forged), a.store)
    second = b.build(context, sources=[LocalCache(cache_dir)])
    assert second.descriptor.digest == first.descriptor.digest
    assert b.executed() == ["COPY:9"]
    assert any("diff_id" in w for w in b.warnings())


def test_the_cli_takes_both_flags_and_prints_the_warning(
    tmp_path: Path, context: Path, registry: Registry
) -> None:
    (context / "Dockerfile").write_text("FROM scratch\nCOPY notes.txt /n\n")
    ref = registry.ref("cache/cli", "main")
    out = run_cli(
        "build", "--progress", "plain", "--cache-to", f"type=registry,ref={ref},mode=max",
        context, root=tmp_path / "a",
    ).check()  # fmt: skip
    first = out.stdout.strip()
    out = run_cli(
        "build", "--progress", "plain", "--cache-from", f"type=registry,ref={ref}",
        "--cache-from", f"type=local,src={tmp_path / 'absent'}", context, root=tmp_path / "b",
    ).check()  # fmt: skip
    assert out.stdout.strip() == first
    assert "CACHED COPY notes.txt /n" in out.stderr
    assert f"warning: cache {tmp_path / 'absent'} not used" in out.stderr


class _StopsAfterFirstBlob(RecordingReporter):
    """Stops the registry as soon as the first cache blob is in it: the export is cut
    halfway, at a known point, with no timing involved."""

    def __init__(self, stop: contextlib.ExitStack) -> None:
        super().__init__()
        self.stop = stop

    def event(self, kind: str, **data: Any) -> None:
        super().event(kind, **data)
        if kind == "push.blob":
            self.stop.close()


def test_a_registry_that_dies_halfway_through_the_export_is_a_warning(
    tmp_path: Path, context: Path
) -> None:
    a = Runner(tmp_path / "a")
    with contextlib.ExitStack() as stack:
        try:
            reg = stack.enter_context(start_registry(tmp_path / "registry"))
        except (RegistryStartError, FileNotFoundError) as exc:
            pytest.skip(f"cannot start docker-registry: {exc}")
        dying = _StopsAfterFirstBlob(stack)
        with Registries(retry=RetryPolicy(attempts=1), timeout=10.0) as regs:
            shared = SharedCache(
                [], RegistryCache(reg.ref("cache/dies", "main"), regs, dying), dying, mode="max"
            )
            result = build_dockerfile(
                a.store,
                BuildOptions(context=context),
                resolver=BaseResolver(a.store, reporter=dying),
                reporter=dying,
                runner=a.fake,
                shared=shared,
            )
    assert [k for k, _ in dying.events].count("push.blob") == 1
    warnings = [d["message"] for k, d in dying.events if k == "warning"]
    assert len(warnings) == 1 and warnings[0].startswith("cache 127.0.0.1:"), warnings
    assert "not written" in warnings[0]
    assert a.store.has_blob(result.descriptor.digest)


def test_an_export_to_another_repository_mounts_the_layers_it_never_downloaded(
    tmp_path: Path, context: Path, registry: Registry, registries: Registries
) -> None:
    a, b, c = Runner(tmp_path / "a"), Runner(tmp_path / "b"), Runner(tmp_path / "c")
    main = registry.ref("cache/mount-main", "main")
    branch = registry.ref("cache/mount-branch", "feature")
    first = a.build(context, sink=RegistryCache(main, registries), mode="max")
    pushes = RecordingReporter()
    b.build(
        context,
        sources=[RegistryCache(main, registries)],
        sink=RegistryCache(branch, registries, pushes),
        mode="max",
    )
    assert b.events("cache.export")[0]["steps"] == 6
    builder_layers = _builder_only(a, first)
    mounted = {d["digest"] for k, d in pushes.events if k == "push.blob.mounted"}
    assert builder_layers <= mounted
    assert not any(b.store.has_blob(d) for d in builder_layers)
    # the branch cache alone is complete: a third runner runs nothing from it
    third = c.build(context, sources=[RegistryCache(branch, registries)])
    assert c.fake.steps == [] and c.executed() == []
    assert third.descriptor.digest == first.descriptor.digest


def test_no_cache_skips_the_import_and_still_exports(tmp_path: Path, context: Path) -> None:
    a, b = Runner(tmp_path / "a"), Runner(tmp_path / "b")
    first = LocalCache(tmp_path / "first")
    a.build(context, sink=first, mode="max")
    second = LocalCache(tmp_path / "second")
    b.store = Store(tmp_path / "b")
    reporter = RecordingReporter()
    result = build_dockerfile(
        b.store,
        BuildOptions(context=context, no_cache=True),
        resolver=BaseResolver(b.store, reporter=reporter),
        reporter=reporter,
        runner=b.fake,
        shared=SharedCache([first], second, reporter, mode="max"),
    )
    assert len(b.fake.steps) == 1  # the RUN ran although the cache had it
    assert not [d for k, d in reporter.events if k in ("cache.import", "cache.fetch")]
    assert [d["steps"] for k, d in reporter.events if k == "cache.export"] == [6]
    assert b.store.has_blob(result.descriptor.digest)
