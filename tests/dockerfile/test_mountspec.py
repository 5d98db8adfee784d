"""``RUN --mount`` typed by the parser: each kind's fields, and what is refused when.

A mount that is wrong whatever the build holds is a parse error at the flag's column, in
every stage; a value with ``$`` waits for its expansion; what this builder does not support
(a required ssh agent no ``--ssh`` forwards) is refused only by a step that runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.dockerfile import (
    BindMount,
    CacheMount,
    PendingMount,
    Run,
    SecretMount,
    SshMount,
    TmpfsMount,
    parse,
    parse_mount,
)
from distroless.dockerfile.secrets import BuildSecret
from distroless.errors import BuildError, DockerfileError
from distroless.store import Store
from tests.dockerfile.executor_helpers import FakeRunner, build, write_context


def _mounts(flags: str) -> tuple[object, ...]:
    run = parse(f"FROM x\nRUN {flags} true\n").stages[0].instructions[0]
    assert isinstance(run, Run)
    return run.mounts


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("type=cache,target=/c", CacheMount(target="/c")),
        ("type=cache,dst=/c,id=apt,ro,from=tools,sharing=locked",
         CacheMount(target="/c", id="apt", readonly=True, source_stage="tools")),
        ("type=cache,destination=/c,readonly=false", CacheMount(target="/c")),
        ("target=/b", BindMount(target="/b")),
        ("type=bind,src=sub,target=/b,rw", BindMount(target="/b", source="sub", readwrite=True)),
        ("type=bind,source=a,target=/b,readwrite=true,from=0",
         BindMount(target="/b", source="a", readwrite=True, source_stage="0")),
        ("type=tmpfs,target=/t,size=10m", TmpfsMount(target="/t")),
        ("type=secret,id=npm", SecretMount(id="npm")),
        ("type=secret,target=/run/tok,env=TOK,required,mode=0440,uid=7,gid=8",
         SecretMount(target="/run/tok", env="TOK", required=True, mode="0440", uid="7",
                     gid="8")),
        ("type=ssh", SshMount()),
        ("type=ssh,id=github,target=/agent,required,mode=0600",
         SshMount(id="github", target="/agent", required=True)),
        # the first of a repeated option counts; keys are case-insensitive; quotes group
        ("type=cache,target=/a,TARGET=/b", CacheMount(target="/a")),
        ("""type=cache,'"target=/a,b"'""", CacheMount(target="/a,b")),
    ],
)  # fmt: skip
def test_each_kind_is_its_own_type(spec: str, expected: object) -> None:
    assert _mounts(f"--mount={spec}") == (expected,)


def test_parse_mount_reads_one_csv_record() -> None:
    assert parse_mount('type=cache,"target=/a,b"') == CacheMount(target="/a,b")
    assert parse_mount("type=tmpfs,target=/t") == TmpfsMount(target="/t")
    with pytest.raises(DockerfileError, match="^invalid mount specification"):
        parse_mount("type=bind,target=/a\rb")


def test_a_secret_is_named_by_its_id_or_its_target() -> None:
    assert SecretMount(id="npm", target="/x/tok").secret_id == "npm"
    assert SecretMount(target="/x/tok").secret_id == "tok"


@pytest.mark.parametrize(
    ("flags", "column", "message"),
    [
        ("--mount=type=nfs,target=/x", 5, "unsupported mount type 'nfs'"),
        ("--mount=type=bind,,target=/x", 5, "empty option"),
        ("--mount=type=cache", 5, "RUN --mount=type=cache needs target=PATH"),
        ("--network=none --mount=type=tmpfs,target=", 20, "type=tmpfs needs target=PATH"),
        ("--mount=type=bind,source=x", 5, "RUN --mount=type=bind needs target=PATH"),
        ("--mount=type=secret", 5, "RUN --mount=type=secret needs id=NAME"),
        ("--mount=type=secret,id=a,env=1BAD", 5, "env=1BAD: not a variable name"),
        ("--mount=type=secret,id=a,mode=rw", 5, "mode=rw: not a number"),
        ("--mount=type=secret,id=a,uid=x", 5, "uid=x: not a number"),
        ("--mount=type=secret,id=a,gid=-", 5, "gid=-: not a number"),
        ("--mount=type=secret,id=a,target=/..", 5, "a secret cannot be mounted over /"),
        ("--mount=type=ssh,source=/k", 5, "RUN --mount=type=ssh takes no source"),
    ],
)
def test_a_bad_mount_is_a_parse_error_at_its_flag(flags: str, column: int, message: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        parse(f"FROM x\nRUN {flags} true\n")
    assert caught.value.message.startswith(f"Dockerfile:2:{column}: ")
    assert message in caught.value.message


def test_a_bad_mount_in_a_stage_that_is_not_built_stops_the_build(tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {})
    store = Store(tmp_path / "store")
    dockerfile = (
        "FROM scratch AS unused\n"
        "RUN --mount=type=secret,id=a,mode=rw true\n"
        "FROM scratch\n"
        "ONBUILD RUN --mount=type=cache true\n"
    )
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2:5: .*mode=rw: not a number"):
        parse(dockerfile)
    (ctx / "Dockerfile").write_text(dockerfile)
    with pytest.raises(DockerfileError, match=r"/Dockerfile:2:5: "):
        build(store, ctx, target="unused")
    with pytest.raises(DockerfileError, match=r"Dockerfile:4:13: RUN --mount=type=cache needs"):
        parse(dockerfile.replace("mode=rw", "mode=0400"))
    assert not store.root.exists() or not any(store.root.glob("blobs/sha256/*"))


@pytest.mark.parametrize(
    "spec",
    [
        "type=secret,id=a,mode=$MODE",
        "type=secret,id=a,uid=${UID},gid=$GID",
        "type=secret,id=a,env=$NAME",
        "type=secret,id=a,target=$DIR/..",
        "type=secret,id=$ID",
        "type=cache,target=$T",
    ],
)
def test_values_with_variables_wait_for_the_step(spec: str) -> None:
    (mount,) = _mounts(f"--mount={spec}")
    assert mount == parse_mount(spec)


def test_variables_are_judged_when_the_step_runs(tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {})
    store = Store(tmp_path / "store")
    runner = FakeRunner()
    secrets = {"a": BuildSecret("a", b"v")}
    # every value is expanded (a target then joins WORKDIR), as BuildKit does
    with pytest.raises(BuildError, match=r"/Dockerfile:3: a secret cannot be mounted over /"):
        build(store, ctx, "FROM scratch\nARG T=/\nRUN --mount=type=secret,id=a,target=$T x\n",
              secrets=secrets, runner=runner)  # fmt: skip
    with pytest.raises(BuildError, match=r"/Dockerfile:3: .*mode=0x: not a number"):
        build(store, ctx, "FROM scratch\nARG M=0x\nRUN --mount=type=secret,id=a,mode=$M x\n",
              secrets=secrets, runner=runner)  # fmt: skip
    built = build(store, ctx, "FROM scratch\nARG T=/srv\nRUN --mount=type=cache,target=$T/c x\n",
                  runner=runner)  # fmt: skip
    assert built.executed("RUN") and [m.destination for m in runner.steps[0].mounts] == ["/srv/c"]


def test_a_variable_type_is_known_when_the_step_runs(tmp_path: Path) -> None:
    (mount,) = _mounts("--mount=type=$KIND,target=/x,from=tools")
    assert mount == PendingMount(source_stage="tools")
    ctx = write_context(tmp_path / "ctx", {})
    store = Store(tmp_path / "store")
    runner = FakeRunner()
    built = build(
        store, ctx,
        "FROM scratch\nARG KIND=TmpFS T=/tmp/t ID=ccc\nWORKDIR /w\n"
        "RUN --mount=type=$KIND,target=$T --mount=type=cache,id=$ID,target=c x\n",
        runner=runner,
    )  # fmt: skip
    assert built.executed("RUN")
    assert [m.destination for m in runner.steps[0].mounts] == ["/tmp/t", "/w/c"]
    secrets = {"a": BuildSecret("a", b"v")}
    built = build(
        store, ctx,
        "FROM scratch\nARG M=0440 N=TOKEN\nRUN --mount=type=secret,id=a,mode=$M,env=$N x\n",
        secrets=secrets, runner=runner,
    )  # fmt: skip
    assert built.executed("RUN")
    for kind, message in (("nfs", "unsupported mount type 'nfs'"), ("", "unsupported mount")):
        with pytest.raises(BuildError, match=rf"/Dockerfile:3: {message}"):
            dockerfile = f"FROM scratch\nARG KIND={kind}\nRUN --mount=type=$KIND,target=/x y\n"
            build(store, ctx, dockerfile, runner=runner)


def test_what_the_build_lacks_is_refused_only_when_the_step_runs(tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {})
    store = Store(tmp_path / "store")
    dockerfile = "FROM scratch AS tools\nRUN --mount=type=ssh,required true\nFROM scratch AS last\n"
    runner = FakeRunner()
    build(store, ctx, dockerfile, target="last", runner=runner)
    with pytest.raises(BuildError, match=r"/Dockerfile:2: RUN --mount=type=ssh,required needs"):
        build(store, ctx, dockerfile, target="tools", runner=runner)
    assert runner.steps == []


def test_an_optional_ssh_mount_runs_the_step_without_an_agent(tmp_path: Path) -> None:
    """As BuildKit with no agent forwarded: no mount, and SSH_AUTH_SOCK where it would be."""
    ctx = write_context(tmp_path / "ctx", {})
    store = Store(tmp_path / "store")
    runner = FakeRunner()
    build(
        store, ctx,
        "FROM scratch\n"
        "RUN --mount=type=ssh true\n"
        "RUN --mount=type=ssh,id=gh,target=sock --mount=type=ssh true\n"
        "WORKDIR /w\n"
        "RUN --mount=type=ssh,target=sock true\n"
        "ENV SSH_AUTH_SOCK=/mine\n"
        "RUN --mount=type=ssh true\n",
        runner=runner,
    )  # fmt: skip
    assert [step.mounts for step in runner.steps] == [(), (), (), ()]
    socks = [step.env.get("SSH_AUTH_SOCK") for step in runner.steps]
    assert socks == ["/run/buildkit/ssh_agent.0", "/sock", "/w/sock", None]  # ENV wins
    again = build(store, ctx, runner=runner)
    assert again.executed("RUN") == []  # the absent agent is part of the key, stably
