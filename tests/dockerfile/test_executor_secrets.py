"""Secret mounts and the files COPY/ADD added, with the sandbox replaced by a recording fake.

The fake step runner records what each RUN step was given (its secret files, with their
bytes and mode, and its environment with the secret variables) and writes a small layer.
Secret values reach the runtime in memory only: the executor writes no file for them.  The
real sandbox is exercised in tests/integration/test_dockerfile_build.py and
tests/faults/test_sigkill_sandbox.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from distroless.dockerfile.secrets import BuildSecret
from distroless.errors import BuildError, DockerfileError
from distroless.store import Store
from distroless.verify.attach import attach_sbom
from tests.dockerfile.executor_helpers import FakeRunner, build, write_context
from tests.verify.test_scan import CountingStore

VALUE = b"tok-5f1d9c-very-secret"


@dataclass
class Seen:
    mounts: dict[str, tuple[bytes, int, int, int]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def seen(runner: FakeRunner) -> list[Seen]:
    """What each step the fake ran was given: secret files and the environment."""
    out = []
    for step in runner.steps:
        record = Seen(env={**step.env, **step.secret_env})
        for secret in step.secrets:
            record.mounts[secret.destination] = (secret.data, secret.mode, secret.uid, secret.gid)
        assert not any(m.source.is_file() for m in step.mounts)  # no secret file on a disk
        out.append(record)
    return out


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    return write_context(tmp_path / "ctx", {"a.txt": "alpha\n", "dir/b.txt": "beta\n"})


def _secrets(value: bytes = VALUE) -> dict[str, BuildSecret]:
    return {"tok": BuildSecret("tok", value)}


def _blobs_contain(store: Store, needle: bytes) -> list[Path]:
    """Every file under the store (blobs, cache records, state) holding ``needle``."""
    return [p for p in store.root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_secret_reaches_only_its_run_as_a_read_only_file_and_a_variable(
    store: Store, ctx: Path, runner: FakeRunner
) -> None:
    dockerfile = (
        "FROM scratch\n"
        "RUN --mount=type=secret,id=tok cat /run/secrets/tok\n"
        "RUN --mount=type=secret,id=tok,env=TOKEN,target=/etc/tok,mode=0440,uid=7,gid=8 use\n"
        "RUN --mount=type=secret,id=tok,env=ONLY_ENV use\n"
        "RUN after\n"
    )
    built = build(store, ctx, dockerfile, secrets=_secrets(), runner=runner)
    first, second, third, fourth = seen(runner)
    assert first.mounts["/run/secrets/tok"] == (VALUE, 0o400, 0, 0)
    assert "TOKEN" not in first.env
    assert second.mounts["/etc/tok"] == (VALUE, 0o440, 7, 8)
    assert second.env["TOKEN"] == VALUE.decode()
    assert third.mounts == {} and third.env["ONLY_ENV"] == VALUE.decode()
    assert fourth.mounts == {} and not {"TOKEN", "ONLY_ENV"} & set(fourth.env)

    text = VALUE.decode()
    assert all(text not in (h.created_by or "") for h in built.result.config.history)
    assert all(text not in e for e in built.result.config.config.env)
    shown = [h.created_by for h in built.result.config.history if not h.empty_layer]
    assert shown[0] == "RUN /bin/sh -c cat /run/secrets/tok"
    assert _blobs_contain(store, VALUE) == []


def test_cache_key_holds_no_value_so_a_new_value_reuses_the_step(
    store: Store, ctx: Path, runner: FakeRunner
) -> None:
    dockerfile = "FROM scratch\nRUN --mount=type=secret,id=tok,required=true use\n"
    first = build(store, ctx, dockerfile, secrets=_secrets(), runner=runner)
    again = build(store, ctx, dockerfile, secrets=_secrets(b"another value"), runner=runner)
    assert len(runner.steps) == 1 and again.executed("RUN") == []
    assert again.result.descriptor == first.result.descriptor
    build(store, ctx, dockerfile, secrets=_secrets(b"another value"), no_cache=True, runner=runner)
    assert seen(runner)[-1].mounts["/run/secrets/tok"][0] == b"another value"
    # an optional secret that was not given is a different step (it runs without it)
    build(store, ctx, "FROM scratch\nRUN --mount=type=secret,id=tok use\n", runner=runner)
    assert len(runner.steps) == 3 and seen(runner)[-1].mounts == {}


def test_missing_required_secret_and_bad_options_name_the_line(
    store: Store, ctx: Path, runner: FakeRunner
) -> None:
    with pytest.raises(BuildError) as caught:
        build(store, ctx, "FROM scratch\n\nRUN --mount=type=secret,id=npm,required use\n",
              runner=runner)  # fmt: skip
    message = caught.value.message
    assert "Dockerfile:3:" in message and "'npm' is required" in message
    assert "\n" not in message
    # wrong whatever the stage holds: refused as the Dockerfile is read, with the column
    for mount, expected in (
        ("id=tok,mode=rw", "mode=rw: not a number"),
        ("id=tok,env=1BAD", "env=1BAD: not a variable name"),
        ("id=tok,target=/", "cannot be mounted over /"),
    ):
        with pytest.raises(DockerfileError, match=f"Dockerfile:2:5: .*{expected}"):
            build(store, ctx, f"FROM scratch\nRUN --mount=type=secret,{mount} use\n",
                  secrets=_secrets(), runner=runner)  # fmt: skip
    # known only once the stage is: a target through a variable, relative to WORKDIR
    for lines in ("ARG T=/\nRUN --mount=type=secret,id=tok,target=$T use\n",
                  "WORKDIR /\nRUN --mount=type=secret,id=tok,target=.. use\n"):  # fmt: skip
        with pytest.raises(BuildError, match=r"Dockerfile:3: a secret cannot be mounted over /"):
            build(store, ctx, f"FROM scratch\n{lines}", secrets=_secrets(), runner=runner)
    with pytest.raises(BuildError, match="not UTF-8 text"):
        build(store, ctx, "FROM scratch\nRUN --mount=type=secret,id=tok,env=T use\n",
              secrets=_secrets(b"\xff\xfe"), runner=runner)  # fmt: skip
    assert runner.steps == []
    assert not any(p.name.startswith("secret-") for p in Path("/dev/shm").glob("*/*"))


def test_added_files_are_the_copies_of_the_target_and_its_parent_stages(
    store: Store, ctx: Path, runner: FakeRunner
) -> None:
    dockerfile = (
        "FROM scratch AS build\n"
        "COPY dir/ /src/\n"
        "FROM scratch AS parent\n"
        "COPY a.txt /opt/a.txt\n"
        "FROM parent\n"
        "COPY --from=build /src/b.txt /usr/bin/\n"
        "RUN make-something\n"
        "ADD a.txt /etc/.hidden\n"
    )
    expected = ("/etc/.hidden", "/opt/a.txt", "/usr/bin/b.txt")
    assert build(store, ctx, dockerfile, runner=runner).result.added_files == expected
    cached = build(store, ctx, dockerfile, runner=runner)
    assert cached.executed("COPY") == [] and cached.result.added_files == expected
    # without an SBOM to write, the layers are not read back for the list
    unlisted = build(store, ctx, dockerfile, runner=runner, list_added_files=False)
    assert unlisted.result.added_files == ()
    assert unlisted.result.descriptor == cached.result.descriptor
    # once an SBOM has scanned the image, its layers' records answer the list
    attach_sbom(store, cached.result.descriptor)
    counting = CountingStore(store.root)
    counting.opened = {}
    again = build(counting, ctx, dockerfile, runner=runner)
    assert again.result.added_files == expected
    layers = {d.digest for d in counting.read_manifest(again.result.descriptor).layers}
    assert not layers & set(counting.opened)
