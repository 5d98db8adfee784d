"""Dockerfile builds with real RUN steps: the Go example end to end, the cache, RUN semantics.

One store per module holds the ``golang:1.17`` builder (from examples/golang/image.yaml,
Debian's Go) and the distroless ``base`` (built from its recipe by the first build that
names it); the example's copy builds ``FROM golang:1.17``, an image that is neither a
built-in base nor a builder, so the policy, mirror and provenance tests see a stored
image.  Debian packages come from the persistent test package cache.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from distroless.dockerfile.executor import BuildOptions, build_dockerfile
from distroless.dockerfile.resolve_base import BaseResolver
from distroless.errors import BuildError, NotFoundError, PolicyError
from distroless.reporter import RecordingReporter
from distroless.store import Store
from tests.helpers import Cli, DockerEngine, Registry
from tests.helpers.shared import copied_store

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "hello-go"
#: the builder examples/hello-go names, replaced by golang:1.17 in the tests' copies
README_BUILDER = "distroless/builder-go:1.24-debian13"
HELLO = "Hello, Distroless World!"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, golang_base_root: Path) -> Path:
    """A store with golang:1.17 and gcr.io/distroless/base (both from Debian packages)."""
    return copied_store(golang_base_root, tmp_path_factory.mktemp("dockerfile") / "store")


@pytest.fixture
def cli(root: Path) -> Cli:
    return Cli(root)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A private copy of examples/hello-go (tests edit main.go), built ``FROM golang:1.17``."""
    dest = tmp_path / "hello-go"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("myapp"))
    dockerfile = dest / "Dockerfile"
    text = dockerfile.read_text()
    assert f"FROM {README_BUILDER} AS builder" in text
    dockerfile.write_text(text.replace(README_BUILDER, "golang:1.17"))
    return dest


def _build(root: Path, context: Path, **options: object) -> tuple[RecordingReporter, str]:
    store = Store(root)
    reporter = RecordingReporter()
    result = build_dockerfile(
        store,
        BuildOptions(context=context, **options),  # type: ignore[arg-type]
        resolver=BaseResolver(store, reporter=reporter),
        reporter=reporter,
    )
    return reporter, result.descriptor.digest


def _executed(reporter: RecordingReporter, instruction: str) -> list[int]:
    return [
        int(d["line"])
        for kind, d in reporter.events
        if kind == "step" and d.get("instruction") == instruction and not d["cached"]
    ]


def test_go_example_runs_in_distroless_run_and_in_docker(
    cli: Cli, root: Path, example: Path, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    cli("build", "-t", "my-distroless-app", example).check()
    ran = cli.subprocess("run", "--rm", "my-distroless-app").check()
    assert ran.stdout.strip() == HELLO
    cli("check", "my-distroless-app").check()  # no shell, no package manager

    store = Store(root)
    app = store.load_image("my-distroless-app")
    base = store.load_image("gcr.io/distroless/base")
    assert [d.digest for d in app.layers[:-1]] == [d.digest for d in base.layers]
    assert len(app.layers) == len(base.layers) + 1
    from tests.dockerfile.executor_helpers import image_layers

    top = image_layers(store, app.descriptor)[-1]
    assert set(top) == {"myapp"}
    assert top["myapp"][0].mode & 0o111
    assert app.config.config.cmd == ("/myapp",)

    archive = tmp_path / "app.tar"
    cli("save", "my-distroless-app", "-o", archive).check()
    loaded = docker_engine.load(archive)
    assert loaded
    out = docker_engine.run_image(loaded[0]).stdout
    assert out.strip() == HELLO


def test_cache_second_build_runs_nothing_and_an_edit_reruns_copy_and_run(
    root: Path, example: Path
) -> None:
    _, first = _build(root, example)
    again, second = _build(root, example)
    assert second == first
    assert _executed(again, "RUN") == []
    assert _executed(again, "COPY") == []
    assert _executed(again, "WORKDIR") == []

    main = example / "main.go"
    main.write_text(main.read_text().replace("Hello, Distroless World!", "Hello again!"))
    edited, third = _build(root, example)
    assert third != first
    assert _executed(edited, "WORKDIR") == []
    assert _executed(edited, "COPY") == [4, 9]  # the source COPY and the COPY --from
    assert _executed(edited, "RUN") == [5]


def test_clean_cache_builds_give_the_same_digest(root: Path, example: Path) -> None:
    _, one = _build(root, example, no_cache=True)
    _, two = _build(root, example, no_cache=True)
    assert one == two


def _dockerfile(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(text)
    for name, content in (files or {}).items():
        (ctx / name).write_text(content)
    return ctx


def test_run_forms_env_user_workdir_and_deletions(cli: Cli, root: Path, tmp_path: Path) -> None:
    ctx = _dockerfile(
        tmp_path,
        """FROM golang:1.17
ARG GREETING=hi
ENV FROM_ENV=env
WORKDIR /work
RUN echo "$GREETING $FROM_ENV $(pwd)" > shell.txt
RUN ["/bin/sh", "-c", "id -u > uid.txt"]
RUN <<EOF
set -e
echo heredoc > /work/heredoc.txt
EOF
RUN cat > /work/cat.txt <<EOT
piped $FROM_ENV
EOT
RUN rm /etc/group && echo 'nobody:x:65534:65534::/:/bin/sh' >> /etc/passwd
USER nobody
RUN id -u > /tmp/nobody.txt || true
RUN --network=none ls /sys/class/net > /tmp/net.txt
""",
    )
    reporter, digest = _build(root, ctx, build_args={"GREETING": "hello"})
    store = Store(root)
    from tests.dockerfile.executor_helpers import image_layers

    files: dict[str, bytes | None] = {}
    deleted: set[str] = set()
    for layer in image_layers(store, store.resolve(digest)):
        for name, (_, data) in layer.items():
            if name.rsplit("/", 1)[-1].startswith(".wh."):
                deleted.add(name.replace(".wh.", ""))
            files[name] = data
    assert files["work/shell.txt"] == b"hello env /work\n"
    assert files["work/uid.txt"] == b"0\n"
    assert files["work/heredoc.txt"] == b"heredoc\n"
    assert files["work/cat.txt"] == b"piped env\n"
    assert files["tmp/nobody.txt"] == b"65534\n"
    assert files["tmp/net.txt"] == b"lo\n"
    assert "etc/group" in deleted
    history = store.load_image(digest).config.history
    assert any(h.created_by.startswith("RUN |1 GREETING=hello /bin/sh -c echo") for h in history)
    assert len(_executed(reporter, "RUN")) == 7


def test_failing_run_names_the_line_and_exit_code(root: Path, tmp_path: Path) -> None:
    ctx = _dockerfile(tmp_path, "FROM golang:1.17\n\nRUN echo boom >&2; exit 3\n")
    with pytest.raises(BuildError, match=r"Dockerfile:3: RUN .* exited with code 3: boom"):
        _build(root, ctx)


def test_run_mounts_cache_bind_and_tmpfs_stay_out_of_the_layer(root: Path, tmp_path: Path) -> None:
    ctx = _dockerfile(
        tmp_path,
        """FROM golang:1.17
ARG ROUND
RUN --mount=type=cache,target=/var/cache/demo echo $ROUND >> /var/cache/demo/log && \\
    wc -l < /var/cache/demo/log > /count
RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cp /mnt/data.txt /copied
RUN --mount=type=bind,source=.,target=/src,rw echo scribble > /src/data.txt
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && test ! -e /copied-from-nowhere
""",
        {"data.txt": "bound\n"},
    )
    from tests.dockerfile.executor_helpers import image_layers

    store = Store(root)
    for round_, expected in (("1", b"1\n"), ("2", b"2\n")):
        _, digest = _build(root, ctx, build_args={"ROUND": round_})
        files: dict[str, bytes | None] = {}
        for layer in image_layers(store, store.resolve(digest)):
            files.update({name: data for name, (_, data) in layer.items()})
        assert files["count"] == expected  # the cache mount outlives the build
        assert files["copied"] == b"bound\n"
        assert not any(n.startswith(("var/cache/demo/", "scratch/", "src/")) for n in files)
        assert "mnt/data.txt" not in files
    assert (ctx / "data.txt").read_text() == "bound\n"  # an rw bind never writes back


def _store_holds(root: Path, needle: bytes) -> list[str]:
    """Files of the store whose bytes, or decompressed bytes for blobs, contain ``needle``."""
    from distroless.layers.compress import open_decompressed

    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        streams: list[BinaryIO] = [path.open("rb")]
        if "blobs" in path.parts:
            raw = path.open("rb")
            try:
                streams.append(open_decompressed(raw))
            except Exception:  # not compressed, or not readable as such: raw bytes only
                raw.close()
        for stream in streams:
            with stream:
                tail = b""
                while chunk := stream.read(1 << 20):
                    if needle in tail + chunk:
                        found.append(str(path.relative_to(root)))
                        break
                    tail = chunk[-len(needle) :]
    return found


def test_a_secret_reaches_its_run_steps_and_nothing_else(
    cli: Cli, root: Path, tmp_path: Path
) -> None:
    value = "sv-" + secrets.token_hex(16)
    token = tmp_path / "token.txt"
    token.write_text(value)
    ctx = _dockerfile(
        tmp_path,
        """FROM golang:1.17
RUN --mount=type=secret,id=tok sha256sum < /run/secrets/tok > /file.sha && \\
    ! (echo changed >> /run/secrets/tok) 2>/dev/null
RUN --mount=type=secret,id=tok2,env=TOK,required=true printf %s "$TOK" | sha256sum > /env.sha
RUN test ! -e /run/secrets/tok && test -z "${TOK:-}" && echo clean > /after
""",
    )
    built = cli(
        "build", "-q", "--no-cache", "-t", "secret-user", "--secret", f"id=tok,src={token}",
        "--secret", "id=tok2,env=SECRET_FOR_TEST", ctx, env={"SECRET_FOR_TEST": value},
    ).check()  # fmt: skip
    from tests.dockerfile.executor_helpers import image_layers

    store = Store(root)
    image = store.load_image("secret-user")
    base = store.load_image("golang:1.17")
    layers = image_layers(store, image.descriptor)[len(base.layers) :]
    expected = hashlib.sha256(value.encode()).hexdigest() + "  -\n"
    assert layers[0]["file.sha"][1] == expected.encode()  # the RUN read the mounted file
    assert layers[1]["env.sha"][1] == expected.encode()  # ... and the variable
    assert layers[2]["after"][1] == b"clean\n"  # a later step sees neither
    names = {name for layer in layers for name in layer}
    assert not any(n == "run" or n.startswith("run/") for n in names), names

    assert value not in built.stdout + built.stderr
    assert all(value not in e for e in image.config.config.env)
    assert all(value not in (h.created_by or "") for h in image.config.history)
    assert _store_holds(root, value.encode()) == []
    # the search does look inside compressed layers: the digest written by the RUN is found
    assert _store_holds(root, expected.split()[0].encode())


def test_the_example_carries_an_sbom_with_its_binary_and_the_base_packages(
    cli: Cli, root: Path, example: Path
) -> None:
    cli("build", "-q", "-t", "my-distroless-app", example).check()
    from tests.dockerfile.executor_helpers import image_layers

    store = Store(root)
    app = store.load_image("my-distroless-app")
    binary = image_layers(store, app.descriptor)[-1]["myapp"][1]
    assert binary is not None
    doc = json.loads(cli("sbom", "my-distroless-app").check().stdout)
    files = {f["fileName"]: f["checksums"] for f in doc["files"]}
    assert list(files) == ["./myapp"]
    sha = {"algorithm": "SHA256", "checksumValue": hashlib.sha256(binary).hexdigest()}
    assert sha in files["./myapp"]
    base = json.loads(cli("sbom", "gcr.io/distroless/base").check().stdout)

    def purls(document: dict[str, Any], kind: str) -> dict[str, str]:
        return {
            p["name"]: ref["referenceLocator"]
            for p in document["packages"]
            for ref in p.get("externalRefs", ())
            if ref["referenceType"] == "purl" and ref["referenceLocator"].startswith(kind)
        }

    # the base's Debian packages, no more, no less
    assert set(purls(doc, "pkg:deb/")) == set(purls(base, "pkg:deb/"))
    assert {"base-files", "libc6", "netbase", "tzdata"} <= set(purls(doc, "pkg:deb/"))
    # ... and what the binary's build info says: its module and the Go that built it
    go = purls(doc, "pkg:golang/")
    assert set(go) == {"example.com/hello", "stdlib"}
    assert go["stdlib"].startswith("pkg:golang/stdlib@1.")


@pytest.mark.unsafe_images  # the pulled golang builder has a shell, as builders do
def test_from_images_come_only_from_the_local_registry_through_mirrors(
    root: Path, example: Path, tmp_path: Path, registry: Registry
) -> None:
    """Both FROM images are pushed to the test registry and pulled back through the mirror
    settings into a store that has neither and may not build bases from recipes (``--pull``)."""
    source = Cli(root)
    source("push", "golang:1.17", f"{registry.url}/library/golang:1.17").check()
    source("push", "gcr.io/distroless/base", f"{registry.url}/distroless/base:latest").check()
    config_home = tmp_path / "config"
    (config_home / "distroless").mkdir(parents=True)
    (config_home / "distroless" / "config.toml").write_text(
        f'[registry."gcr.io"]\nmirrors = ["{registry.url}"]\n'
    )
    fresh = Cli(tmp_path / "fresh")
    env = {"XDG_CONFIG_HOME": str(config_home), "DISTROLESS_CACHE": str(tmp_path / "no-cache")}
    built = fresh(
        "build", "--pull", "--registry-mirror", registry.url, "-t", "mirrored", example, env=env
    ).check()
    assert "Built sha256:" in built.stdout
    for name in ("golang:1.17", "gcr.io/distroless/base"):
        mine = fresh("inspect", name).check().json()["manifestDigest"]  # type: ignore[index]
        theirs = source("inspect", name).check().json()["manifestDigest"]  # type: ignore[index]
        assert mine == theirs
    assert not (tmp_path / "no-cache").exists()  # no Debian package was needed
    assert fresh.subprocess("run", "--rm", "mirrored").check().stdout.strip() == HELLO


KEY_ENV = {"DISTROLESS_KEY_PASSPHRASE": "provenance-test", "COSIGN_PASSWORD": None}


def _statements(root: Path, image: str) -> list[dict[str, Any]]:
    from distroless.verify.attach import attestations

    store = Store(root)
    return [json.loads(s) for s in attestations(store, store.resolve(image).digest)]


def test_the_go_examples_provenance_names_both_bases_the_dockerfile_and_the_build_args(
    cli: Cli, root: Path, example: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "prov"
    cli("key", "generate", "--output-key-prefix", prefix, env=KEY_ENV).check()
    cli(
        "build", "-q", "-t", "prov-go", "--build-arg", "GREETING=one",
        "--provenance-key", f"{prefix}.key", example, env=KEY_ENV,
    ).check()  # fmt: skip
    from distroless.sign.keys import load_public_key
    from distroless.verify.attach import attestations

    store = Store(root)
    image = store.resolve("prov-go")
    public = load_public_key(Path(f"{prefix}.pub").read_bytes())
    (signed,) = [json.loads(s) for s in attestations(store, image.digest, public)]
    assert signed["subject"] == [
        {"name": "docker.io/library/prov-go", "digest": {"sha256": image.digest[7:]}}
    ]
    definition = signed["predicate"]["buildDefinition"]
    params = definition["externalParameters"]
    dockerfile = hashlib.sha256((example / "Dockerfile").read_bytes()).hexdigest()
    assert params["source"] == {
        "kind": "dockerfile", "path": "Dockerfile", "digest": {"sha256": dockerfile}
    }  # fmt: skip
    assert params["buildArgs"] == {"GREETING": "one"}
    assert params["platform"] == "linux/amd64" and "context" in params
    deps = {d["name"]: d for d in definition["resolvedDependencies"]}
    for name, ref in (
        ("docker.io/library/golang:1.17", "golang:1.17"),
        ("gcr.io/distroless/base:latest", "gcr.io/distroless/base"),
    ):
        assert deps[name]["digest"] == {"sha256": store.resolve(ref).digest[7:]}
        assert deps[name]["annotations"]["role"] == "base"

    # another build argument: the same image, another statement that differs only there
    cli("build", "-q", "-t", "prov-go", "--build-arg", "GREETING=two", "--provenance", example)
    statements = _statements(root, "prov-go")
    assert len(statements) == 2
    first, second = sorted(statements, key=lambda s: str(s))
    assert first != second
    for doc in (first, second):
        doc["predicate"]["buildDefinition"]["externalParameters"].pop("buildArgs")
    assert first == second


def test_a_secret_value_is_in_no_blob_and_refused_as_a_build_arg(
    cli: Cli, root: Path, example: Path, tmp_path: Path
) -> None:
    value = "sv-" + secrets.token_hex(16)
    token = tmp_path / "token.txt"
    token.write_text(value)
    secret = ("--secret", f"id=tok,src={token}")
    cli("build", "-q", "-t", "prov-secret", *secret, "--provenance", example).check()
    # the image is the example's, so the other tests' statements are attached to it too
    params = [
        s["predicate"]["buildDefinition"]["externalParameters"]
        for s in _statements(root, "prov-secret")
    ]
    assert any(p["buildArgs"] == {} for p in params)
    assert _store_holds(root, value.encode()) == []

    leaked = cli(
        "build", "-q", "-t", "prov-leak", *secret, "--build-arg", f"TOKEN={value}",
        "--provenance", example,
    )  # fmt: skip
    assert leaked.exit_code == BuildError.exit_code
    assert "secret 'tok'" in leaked.stderr and value not in leaked.stderr
    assert _store_holds(root, value.encode()) == []


def test_a_policy_on_golang_stops_the_unsigned_builder_and_lets_it_through_once_signed(
    cli: Cli, root: Path, example: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "golang"
    cli("key", "generate", "--output-key-prefix", prefix, env=KEY_ENV).check()
    config = tmp_path / "config" / "distroless" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f'[policy."golang:*"]\nsigned-by = "{prefix}.pub"\n\n'
        # the base is unsigned too, but built here from Debian's signed packages
        f'[policy."gcr.io/distroless/*"]\nsigned-by = "{prefix}.pub"\n'
    )
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), **KEY_ENV}
    refused = cli("build", "-q", "-t", "policy-go", example, env=env)
    assert refused.exit_code == PolicyError.exit_code
    (line,) = refused.stderr.strip().splitlines()
    assert (
        line.startswith("error: ") and "Dockerfile:2: image docker.io/library/golang:1.17" in line
    )
    assert "policy 'golang:*'" in line and "has no signatures" in line
    with pytest.raises(NotFoundError):
        Store(root).resolve("policy-go")

    cli("sign", "golang:1.17", "--key", f"{prefix}.key", env=KEY_ENV).check()
    cli("build", "-q", "-t", "policy-go", example, env=env).check()
    assert Store(root).resolve("policy-go").digest


def _request_build(
    store_dir: Path, context: Path, **fields: Any
) -> tuple[RecordingReporter, str, Store]:
    from distroless.build import DockerfileRequest, build_image
    from distroless.registry_config import UserConfig

    store = Store(store_dir)
    reporter = RecordingReporter()
    request = DockerfileRequest(context=context, sbom=False, config=UserConfig(), **fields)
    outcome = build_image(store, request, reporter)
    return reporter, outcome.descriptor.digest, store


@pytest.mark.unsafe_images  # runner B's store holds the golang builder, a Debian image
def test_two_runners_share_the_go_examples_cache_through_the_registry(
    cli: Cli, root: Path, example: Path, registry: Registry, tmp_path: Path
) -> None:
    """Runner A builds and exports (mode=max); runner B, with a store that holds only the
    builder, an empty package cache and a Debian mirror that does not answer, runs no RUN,
    builds the distroless base from the cache's package layers without one .deb, and gets
    A's digest."""
    from distroless.dockerfile.cache_flags import parse_cache_from, parse_cache_to
    from tests.helpers.registry import free_port

    ref = registry.ref("cache/hello-go", "main")
    to = parse_cache_to(f"type=registry,ref={ref},mode=max")
    source = (parse_cache_from(f"type=registry,ref={ref}"),)
    a_events, a_digest, a_store = _request_build(root, example, cache_to=to)
    assert [d for k, d in a_events.events if k == "warning"] == []
    exported = [d for k, d in a_events.events if k == "cache.export"]
    base_layers = len(a_store.load_image("gcr.io/distroless/base").layers)
    golang_layers = len(a_store.load_image("golang:1.17").layers)  # a spec's layers
    # WORKDIR, COPY, RUN; COPY --from; the package-made layers of both bases (shared ones
    # once)
    assert exported and 4 + base_layers <= exported[0]["steps"] <= 4 + base_layers + golang_layers

    # runner B: a fresh store with the builder (as a runner image would carry it), no
    # package cache, no way to Debian's archive, no build cache
    bases = tmp_path / "bases.tar"
    cli("save", "golang:1.17", "-o", bases).check()
    b_root = tmp_path / "runner-b"
    Cli(b_root)("load", "-i", bases).check()
    (tmp_path / "no-debs").mkdir()
    offline = {"package_cache": tmp_path / "no-debs", "mirror": f"http://127.0.0.1:{free_port()}"}
    b_events, b_digest, b_store = _request_build(b_root, example, cache_from=source, **offline)
    assert b_digest == a_digest
    assert _executed(b_events, "RUN") == []
    assert _executed(b_events, "COPY") == []
    assert [d for k, d in b_events.events if k == "warning"] == []
    assert not any((tmp_path / "no-debs").rglob("*.deb"))
    fetched = [d["digest"] for k, d in b_events.events if k == "cache.fetch"]
    app = b_store.load_image(b_digest)
    # the base's layers that the builder B holds does not share, then the COPY --from one
    held = {d.digest for d in b_store.load_image("golang:1.17").layers}
    assert fetched == [d.digest for d in app.layers if d.digest not in held]
    assert len(fetched) >= 2
    # the builder's own layers (WORKDIR, COPY, RUN) were never downloaded
    builder = a_store.load_image("golang:1.17")
    a_layers = {r.digest for _, r in a_store.roots("build-cache")}
    builder_made = a_layers - {d.digest for d in app.layers} - {d.digest for d in builder.layers}
    assert builder_made
    assert not any(b_store.has_blob(d) for d in builder_made)

    # an edit: B re-runs the COPY of main.go, the RUN after it and the COPY --from only
    main = example / "main.go"
    main.write_text(main.read_text().replace(HELLO, "Hello from runner B!"))
    edited, _, _ = _request_build(b_root, example, cache_from=source, **offline)
    assert _executed(edited, "WORKDIR") == []
    assert _executed(edited, "COPY") == [4, 9]
    assert _executed(edited, "RUN") == [5]


@pytest.mark.unsafe_images  # runner B's store holds the golang builder, a Debian image
def test_two_runners_share_the_go_examples_cache_through_a_directory(
    cli: Cli, root: Path, example: Path, tmp_path: Path
) -> None:
    from distroless.dockerfile.cache_flags import parse_cache_from, parse_cache_to

    cache = tmp_path / "ci-cache"
    to = parse_cache_to(f"type=local,dest={cache},mode=max")
    _, a_digest, _ = _request_build(root, example, cache_to=to)
    bases = tmp_path / "bases.tar"
    cli("save", "golang:1.17", "gcr.io/distroless/base", "-o", bases).check()
    b_root = tmp_path / "runner-b"
    Cli(b_root)("load", "-i", bases).check()
    source = (parse_cache_from(f"type=local,src={cache}"),)
    b_events, b_digest, _ = _request_build(b_root, example, cache_from=source)
    assert b_digest == a_digest
    assert _executed(b_events, "RUN") == []
    assert len([k for k, _ in b_events.events if k == "cache.fetch"]) == 1


def test_a_cache_export_to_a_registry_that_is_gone_is_a_warning(
    root: Path, example: Path, tmp_path: Path
) -> None:
    from distroless.dockerfile.cache_flags import parse_cache_to
    from tests.helpers.registry import free_port

    gone = f"127.0.0.1:{free_port()}/cache/gone:main"
    events, digest, store = _request_build(
        root, example, cache_to=parse_cache_to(f"type=registry,ref={gone},mode=max")
    )
    warnings = [d["message"] for k, d in events.events if k == "warning"]
    assert len(warnings) == 1 and warnings[0].startswith(f"cache {gone} not written:")
    assert store.has_blob(digest)


@pytest.mark.unsafe_images  # the golang builder, a Debian image, is pushed and pulled
def test_a_runner_with_an_empty_store_downloads_no_builder_blob(
    cli: Cli, root: Path, example: Path, tmp_path: Path
) -> None:
    """Both bases in a registry, runner B's store empty: B pulls the builder's manifest and
    config only, since every step of its stage hits the cache, and the registry's access log
    shows no blob of the builder's image or of its steps sent to B.  After an edit the RUN
    misses, and only then do the builder's layers come (and its tag with them)."""
    from distroless.dockerfile.cache_flags import parse_cache_from, parse_cache_to
    from tests.helpers.registry import blob_bytes_served
    from tests.helpers.registry import registry as start_registry

    with start_registry(tmp_path / "registry", access_log=True) as reg:
        golang, base = reg.ref("golang", "1.17"), reg.ref("distroless/base", "latest")
        cli("push", "golang:1.17", golang).check()
        cli("push", "gcr.io/distroless/base", base).check()
        dockerfile = example / "Dockerfile"
        text = dockerfile.read_text().replace("FROM golang:1.17", f"FROM {golang}")
        dockerfile.write_text(text.replace("FROM gcr.io/distroless/base", f"FROM {base}"))
        cache = reg.ref("cache/hello-go", "main")
        to = parse_cache_to(f"type=registry,ref={cache},mode=max")
        _, a_digest, a_store = _request_build(root, example, cache_to=to)
        served_before = blob_bytes_served(reg)

        b_events, b_digest, b_store = _request_build(
            tmp_path / "runner-b",
            example,
            cache_from=(parse_cache_from(f"type=registry,ref={cache}"),),
        )
        served = {d: n for d, n in blob_bytes_served(reg).items() if n > served_before.get(d, 0)}
        # the builder's image stays untagged (its layers never came); the base is whole
        assert golang not in {name for name, _ in b_store.refs()}
        assert b_store.fsck() == []
        # an edit: now the RUN misses, and the builder's layers come from the registry
        main = example / "main.go"
        main.write_text(main.read_text().replace(HELLO, "Hello from runner B!"))
        edited, _, _ = _request_build(
            tmp_path / "runner-b",
            example,
            cache_from=(parse_cache_from(f"type=registry,ref={cache}"),),
        )
        assert (_executed(edited, "COPY"), _executed(edited, "RUN")) == ([4, 9], [5])
        assert golang in {name for name, _ in Store(tmp_path / "runner-b").refs()}

    assert b_digest == a_digest
    assert _executed(b_events, "RUN") == []
    app = b_store.load_image(b_digest)
    final = {d.digest for d in app.layers}
    # the builder shares its lowest layers (glibc, tzdata, ...) with the base: those are
    # the final image's too
    builder = {d.digest for d in a_store.load_image("golang:1.17").layers} - final
    steps = {r.digest for _, r in a_store.roots("build-cache")} - final
    assert builder and steps
    assert not (builder | steps) & set(served), "runner B was sent a builder-stage blob"
    assert final <= set(served)
