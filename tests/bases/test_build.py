"""The base builder over fake packages: layering, tags, names, sharing, squash, caching."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.bases.build import (
    PUBLISHED,
    TAG_CONFIGS,
    BaseBuilder,
    build_bases,
    container_config,
    parse_requests,
    store_names,
)
from distroless.bases.locks import locked_packages
from distroless.bases.recipe import Recipes, load_models
from distroless.errors import LockfileError, UsageError
from distroless.layers.reader import iter_layer
from distroless.oci.models import Platform
from distroless.reporter import RecordingReporter
from distroless.store import Store
from tests.bases.fakes import FakeDebs

AMD64 = Platform("linux", "amd64")
RECIPES = {
    "small.yaml": (
        "name: small\npackages: {debian13: [base-files, ca-certificates], debian12: [base-files,"
        " ca-certificates]}\nenv: {PATH: /usr/bin:/bin}\n"
    ),
    "big.yaml": (
        "name: big\nparent: small\npackages: {debian13: [libfake1]}\n"
        "entrypoint: [/usr/bin/x]\nenv: {LANG: C.UTF-8}\nsymlinks: {/usr/bin/y: x}\n"
    ),
}


@pytest.fixture
def debs(tmp_path: Path) -> FakeDebs:
    return FakeDebs(tmp_path / "debs")


def _recipes() -> Recipes:
    return Recipes(load_models(RECIPES))


def _layer_files(store: Store, digest: str) -> dict[str, bytes | None]:
    with store.open_blob(digest) as blob:
        return {
            info.name: (None if stream is None else stream.read())
            for info, stream in iter_layer(blob)
        }


def _layer_paths(store: Store, digest: str) -> list[str]:
    return list(_layer_files(store, digest))


def test_layers_tags_and_names(tmp_path: Path, debs: FakeDebs) -> None:
    store = Store(tmp_path / "store")
    recipes = _recipes()
    built = build_bases(
        store,
        debs,
        [recipes.get("small"), recipes.get("big")],
        parse_requests([], ["small", "big"]),
        debs.lock(),
    )
    assert [(b.name, b.tag) for b in built] == [
        ("small", t) for t in ("latest", "nonroot", "debug", "debug-nonroot")
    ] + [("big", t) for t in ("latest", "nonroot", "debug", "debug-nonroot")]
    small = store.load_image("distroless/small:latest", AMD64)
    big = store.load_image(f"{PUBLISHED}/big:latest", AMD64)
    assert len(small.layers) == 2  # base-files + generated (ca-certificates is no layer)
    assert len(big.layers) == 3 and big.layers[0] == small.layers[0]
    generated = _layer_paths(store, small.layers[1].digest)
    assert "etc/ssl/certs/ca-certificates.crt" in generated
    assert "usr/sbin/update-ca-certificates" not in generated
    debug = store.load_image("distroless/big:debug", AMD64)
    assert debug.layers[:-1] == big.layers
    assert "busybox/sh" in _layer_paths(store, debug.layers[-1].digest)
    assert debug.config.config.entrypoint == ("/busybox/sh",)
    assert big.config.config.entrypoint == ("/usr/bin/x",)
    assert big.config.config.env == ("PATH=/usr/bin:/bin", "LANG=C.UTF-8")
    assert {str(p) for p in store.platforms("distroless/big:nonroot")} == {
        "linux/amd64",
        "linux/arm64",
    }
    suffixed = store.resolve(f"{PUBLISHED}/big-debian13:nonroot")
    assert suffixed.digest == store.resolve("distroless/big:nonroot").digest


def test_rebuild_reads_no_package_and_keeps_digests(tmp_path: Path, debs: FakeDebs) -> None:
    store = Store(tmp_path / "store")
    recipe = _recipes().get("big")
    lock = debs.lock()
    first = BaseBuilder(store, debs, lock).build(recipe, "debug", ["amd64"])
    saved = {path: path.read_bytes() for path in debs.paths.values()}
    for path in saved:
        path.write_bytes(b"not a deb")  # a rebuild that read any package would fail
    reporter = RecordingReporter()
    again = BaseBuilder(store, debs, lock, reporter=reporter).build(recipe, "debug", ["amd64"])
    assert again.descriptor == first.descriptor
    assert "layer-built" not in reporter.kinds()
    assert reporter.kinds().count("layer-cached") == 4  # base-files, libfake1, generated, busybox
    for path, data in saved.items():
        path.write_bytes(data)
    fresh = BaseBuilder(Store(tmp_path / "fresh"), debs, lock).build(recipe, "debug", ["amd64"])
    assert fresh.descriptor.digest == first.descriptor.digest


def test_single_arch_is_a_manifest(tmp_path: Path, debs: FakeDebs) -> None:
    store = Store(tmp_path / "store")
    built = BaseBuilder(store, debs, debs.lock()).build(
        _recipes().get("small"), "latest", ["arm64"]
    )
    assert built.descriptor.platform == Platform("linux", "arm64")
    assert "manifest" in built.descriptor.media_type


def test_squash_gives_one_layer_with_upper_files_winning(tmp_path: Path, debs: FakeDebs) -> None:
    store = Store(tmp_path / "store")
    builder = BaseBuilder(store, debs, debs.lock(), squash=True)
    builder.build(_recipes().get("big"), "debug-nonroot", ["amd64"])
    image = store.load_image("distroless/big:debug-nonroot", AMD64)
    assert len(image.layers) == 1
    files = _layer_files(store, image.layers[0].digest)
    assert (files["usr/lib/os-release"] or b"").startswith(b'PRETTY_NAME="Distroless"')
    assert "busybox/busybox" in files and "usr/lib/libfake.so.1" in files
    assert image.config.config.user == "65532"


def test_debian12_names_carry_the_suffix() -> None:
    assert store_names("base", "latest", "debian12") == (
        "distroless/base-debian12:latest",
        f"{PUBLISHED}/base-debian12:latest",
    )
    assert store_names("base", "debug", "debian13")[-1] == f"{PUBLISHED}/base:debug"


def test_tag_configs() -> None:
    recipe = _recipes().get("small")
    latest = container_config(recipe, TAG_CONFIGS["latest"])
    assert (latest.user, latest.working_dir, latest.entrypoint) == ("0", "/", None)
    nonroot = container_config(recipe, TAG_CONFIGS["debug-nonroot"])
    assert (nonroot.user, nonroot.working_dir) == ("65532", "/home/nonroot")
    assert nonroot.env == ("PATH=/usr/bin:/bin:/busybox",)


def test_requests() -> None:
    assert parse_requests(["b:debug", "a", "b:latest", "b:debug"], ["a", "b"]) == [
        ("b", ("debug", "latest")),
        ("a", ("latest", "nonroot", "debug", "debug-nonroot")),
    ]
    with pytest.raises(UsageError, match="no base named 'c'"):
        parse_requests(["c"], ["a"])
    with pytest.raises(UsageError, match="unknown tag 'edge'"):
        parse_requests(["a:edge"], ["a"])


def test_missing_lock_entries_say_how_to_refresh(tmp_path: Path, debs: FakeDebs) -> None:
    lock = debs.lock()
    with pytest.raises(LockfileError, match="lacks nothere for amd64.*bases lock"):
        locked_packages(lock, "amd64", ("nothere",))
    with pytest.raises(LockfileError, match="no riscv64 packages"):
        locked_packages(lock, "riscv64", ("base-files",))


def test_failed_build_leaves_no_names(tmp_path: Path, debs: FakeDebs) -> None:
    store = Store(tmp_path / "store")
    broken = Recipes(load_models({"x.yaml": "name: x\npackages: {debian13: [ghost]}\n"}))
    with pytest.raises(LockfileError, match="ghost"):
        BaseBuilder(store, debs, debs.lock()).build(broken.get("x"), "latest", ["amd64"])
    assert store.refs() == []


def test_history_does_not_depend_on_what_was_built_before(tmp_path: Path, debs: FakeDebs) -> None:
    # "twin" shares every layer of "small", the generated one included, under its own name
    texts = {**RECIPES, "twin.yaml": "name: twin\nparent: small\npackages: {debian13: []}\n"}
    recipes = Recipes(load_models(texts))
    both = BaseBuilder(Store(tmp_path / "a"), debs, debs.lock())
    both.build(recipes.get("small"), "latest", ["amd64"])
    after_small = both.build(recipes.get("twin"), "latest", ["amd64"])
    alone = BaseBuilder(Store(tmp_path / "b"), debs, debs.lock())
    assert (
        alone.build(recipes.get("twin"), "latest", ["amd64"]).descriptor == after_small.descriptor
    )


def test_layers_made_side_by_side_are_the_layers_made_one_by_one(
    tmp_path: Path, debs: FakeDebs
) -> None:
    recipes = _recipes()
    wanted = [recipes.get("small"), recipes.get("big")]
    requests = parse_requests([], ["small", "big"])
    digests: dict[int, list[tuple[str, str, str]]] = {}
    for workers in (1, 2):
        store = Store(tmp_path / f"store-{workers}")
        reporter = RecordingReporter()
        built = build_bases(
            store, debs, wanted, requests, debs.lock(), reporter=reporter, workers=workers
        )
        digests[workers] = [(b.name, b.tag, str(b.descriptor.digest)) for b in built]
        # each layer is made once (one per key), shared ones too
        assert reporter.kinds().count("layer-built") == len(store.roots("layer"))
        assert "layer-cached" not in reporter.kinds()  # what this build made is no cache hit
        blobs = sorted(p.name for p in (store.root / "blobs" / "sha256").iterdir())
        digests[workers].append(("blobs", "", ",".join(blobs)))
    assert digests[1] == digests[2]
