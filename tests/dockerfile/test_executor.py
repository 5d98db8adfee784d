"""Executor semantics with small scratch-based Dockerfiles (no sandbox needed)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from distroless.errors import BuildError, DockerfileError, NotFoundError
from distroless.layers.entry import Entry
from distroless.oci.models import ContainerConfig
from distroless.store import Store
from tests.dockerfile.executor_helpers import FakeRunner, build, write_context
from tests.helpers.images import store_image

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"
GROUP = "root:x:0:\nstaff:x:50:\napp:x:1001:\n"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    return write_context(
        tmp_path / "ctx",
        {
            "a.txt": "alpha\n",
            "b.txt": "beta\n",
            "dir/one.txt": "1\n",
            "dir/sub/two.txt": "2\n",
            "dir/skip.log": "log\n",
            "notes.log": "ignored\n",
            ".dockerignore": "*.log\n**/*.log\n",
        },
    )


@pytest.fixture
def with_users(store: Store) -> str:
    store_image(
        store,
        "users:latest",
        [[Entry.file("etc/passwd", PASSWD.encode()), Entry.file("etc/group", GROUP.encode())]],
        ContainerConfig(env=("PATH=/usr/bin", "BASE=1"), cmd=("/base",)),
    )
    return "users:latest"


# -- COPY ----------------------------------------------------------------------------------


def test_copy_file_to_path_and_to_directory(store: Store, ctx: Path) -> None:
    built = build(store, ctx, "FROM scratch\nCOPY a.txt /x/renamed\nCOPY b.txt /y/\n")
    files = built.files()
    assert files["x/renamed"][1] == b"alpha\n"
    assert files["y/b.txt"][1] == b"beta\n"
    assert files["x/renamed"][0].uid == 0
    assert len(built.layers()) == 2


def test_copy_directory_copies_its_contents_and_honours_dockerignore(
    store: Store, ctx: Path
) -> None:
    built = build(store, ctx, "FROM scratch\nCOPY dir /d\nCOPY . /all/\n")
    files = built.files()
    assert files["d/one.txt"][1] == b"1\n"
    assert files["d/sub/two.txt"][1] == b"2\n"
    assert "d/dir" not in files
    assert "d/skip.log" not in files
    assert "all/notes.log" not in files
    assert "all/a.txt" in files


@pytest.mark.parametrize(
    ("ignore", "kept", "left_out"),
    [
        ("secret/\n!secret/public.txt\n", {"secret", "secret/public.txt", "other"}, {"secret/key"}),
        ("**\n!keep/**\n", {"keep", "keep/a", "keep/deep", "keep/deep/b"}, {"drop", "other"}),
        ("drop/\n", {"keep/a", "other"}, {"drop", "drop/x"}),
    ],
)
def test_an_exception_reincludes_below_an_excluded_directory(
    store: Store, tmp_path: Path, ignore: str, kept: set[str], left_out: set[str]
) -> None:
    """As docker sends it: the excluded directory comes along as the parent of what an
    exception brings back, and nothing else of it does."""
    context = write_context(
        tmp_path / "reinclude",
        {
            ".dockerignore": ignore,
            "secret/public.txt": "p",
            "secret/key": "k",
            "keep/a": "a",
            "keep/deep/b": "b",
            "drop/x": "x",
            "other": "o",
        },
    )
    files = {
        k.removeprefix("c/") for k in build(store, context, "FROM scratch\nCOPY . /c/\n").files()
    }
    assert kept <= files and not left_out & files


def test_copy_globs_and_multiple_sources_need_a_directory(store: Store, ctx: Path) -> None:
    built = build(store, ctx, "FROM scratch\nCOPY *.txt /g/\n")
    assert {k for k in built.files() if k.startswith("g/")} == {"g/a.txt", "g/b.txt"}
    single = build(store, ctx, "FROM scratch\nCOPY a.t?t /single\n")
    assert single.files()["single"][1] == b"alpha\n"  # one match: the destination is a file
    with pytest.raises(BuildError, match="must be a directory"):
        build(store, ctx, "FROM scratch\nCOPY *.txt /nodir\n")
    with pytest.raises(BuildError, match=r"Dockerfile:2: .*must be a directory"):
        build(store, ctx, "FROM scratch\nCOPY a.txt b.txt /nodir\n")


def test_copy_relative_destination_uses_workdir(store: Store, ctx: Path) -> None:
    built = build(store, ctx, "FROM scratch\nWORKDIR /app\nCOPY a.txt b.txt ./\n")
    files = built.files()
    assert files["app"][0].isdir()
    assert files["app/a.txt"][1] == b"alpha\n"
    assert built.config.working_dir == "/app"


def test_copy_chmod_chown_numeric_and_by_name(store: Store, ctx: Path, with_users: str) -> None:
    built = build(
        store,
        ctx,
        f"FROM {with_users}\nCOPY --chmod=0600 --chown=7:8 a.txt /n\n"
        "COPY --chown=app:staff b.txt /named\nCOPY --chown=app dir /owned\n",
    )
    files = built.files()
    info = files["n"][0]
    assert (info.mode, info.uid, info.gid) == (0o600, 7, 8)
    assert (files["named"][0].uid, files["named"][0].gid) == (1000, 50)
    # a name alone takes its passwd entry's primary group, as BuildKit does
    assert (files["owned/one.txt"][0].uid, files["owned/one.txt"][0].gid) == (1000, 1001)
    with pytest.raises(BuildError, match=r"Dockerfile:2: --chown: 'ghost'"):
        build(store, ctx, f"FROM {with_users}\nCOPY --chown=ghost a.txt /x\n")


def test_copy_missing_source_names_the_line(store: Store, ctx: Path) -> None:
    with pytest.raises(BuildError, match=r"Dockerfile:3: 'nope.txt' is not in the build context"):
        build(store, ctx, "FROM scratch\n\nCOPY nope.txt /\n")
    with pytest.raises(BuildError, match="excluded by .dockerignore"):
        build(store, ctx, "FROM scratch\nCOPY notes.log /\n")


def test_copy_heredoc_creates_a_file(store: Store, ctx: Path) -> None:
    built = build(
        store, ctx, "FROM scratch\nARG WHO=world\nCOPY <<EOF /greeting\nhello $WHO\nEOF\n"
    )
    assert built.files()["greeting"][1] == b"hello world\n"


def test_copy_into_an_existing_directory_keeps_its_metadata(store: Store, ctx: Path) -> None:
    store_image(store, "tmpimg:latest", [[Entry.directory("tmp", mode=0o1777)]])
    built = build(store, ctx, "FROM tmpimg\nCOPY a.txt /tmp/\n")
    layer = built.layers()[-1]
    assert layer["tmp"][0].mode == 0o1777
    assert layer["tmp/a.txt"][1] == b"alpha\n"


def test_copy_from_stage_and_from_image(store: Store, ctx: Path, with_users: str) -> None:
    built = build(
        store,
        ctx,
        "FROM scratch AS one\nCOPY dir /src\n"
        "FROM scratch AS unused\nCOPY missing-file /\n"
        "FROM scratch\nCOPY --from=one /src/sub/two.txt /two\nCOPY --from=0 /src /tree/\n"
        f"COPY --from={with_users} /etc/passwd /p\n",
    )
    files = built.files()
    assert files["two"][1] == b"2\n"
    assert files["tree/one.txt"][1] == b"1\n"
    assert files["p"][1] == PASSWD.encode()
    # the unused stage (with a missing source) was never built
    assert {s["stage"] for s in built.steps()} == {"one", "stage-2"}


# -- ADD -----------------------------------------------------------------------------------


def test_add_unpacks_local_tar_archives(store: Store, ctx: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"packed\n"
        info = tarfile.TarInfo("inner/file.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (ctx / "bundle.tar.gz").write_bytes(buf.getvalue())
    built = build(store, ctx, "FROM scratch\nADD bundle.tar.gz /opt/\nCOPY bundle.tar.gz /raw\n")
    files = built.files()
    assert files["opt/inner/file.txt"][1] == b"packed\n"
    assert files["raw"][1] == buf.getvalue()


# -- metadata ------------------------------------------------------------------------------


def test_metadata_instructions_set_the_config(store: Store, ctx: Path, with_users: str) -> None:
    built = build(
        store,
        ctx,
        f"""FROM {with_users}
ENV A=1 B="two words"
ENV C=$A-${{B}}
LABEL version="1.0" "other key"=v
MAINTAINER someone@example.org
WORKDIR /srv
WORKDIR sub
USER app:staff
EXPOSE 80 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --retries=2 CMD ["/check"]
ONBUILD RUN echo later
SHELL ["/bin/bash", "-c"]
ENTRYPOINT echo hi
""",
    )
    config = built.config
    env = config.env_map()
    assert env["A"] == "1" and env["B"] == "two words" and env["C"] == "1-two words"
    assert env["BASE"] == "1"
    assert config.labels["version"] == "1.0" and config.labels["other key"] == "v"
    assert "maintainer" not in config.labels  # BuildKit sets only the author
    assert built.result.config.author == "someone@example.org"
    assert config.working_dir == "/srv/sub"
    assert config.user == "app:staff"
    assert config.exposed_ports == ("53/udp", "80/tcp")
    assert config.volumes == ("/data",)
    assert config.stop_signal == "SIGTERM"
    assert config.healthcheck == {"Test": ["CMD", "/check"], "Interval": 30 * 10**9, "Retries": 2}
    assert config.on_build == ("RUN echo later",)
    assert config.shell == ("/bin/bash", "-c")
    # shell-form ENTRYPOINT uses the SHELL in effect; a new ENTRYPOINT drops the base's CMD
    assert config.entrypoint == ("/bin/bash", "-c", "echo hi")
    assert config.cmd is None
    history = built.result.config.history
    assert history[-1].created_by == 'ENTRYPOINT ["/bin/bash", "-c", "echo hi"]'
    assert history[-1].empty_layer
    assert any(h.created_by == "WORKDIR /srv" and not h.empty_layer for h in history)


def test_cmd_set_in_the_stage_survives_a_later_entrypoint(store: Store, ctx: Path) -> None:
    built = build(store, ctx, 'FROM scratch\nCMD ["x"]\nENTRYPOINT ["/e"]\n')
    assert built.config.cmd == ("x",)
    assert built.config.entrypoint == ("/e",)


def test_user_is_recorded_even_when_the_stage_lacks_it(
    store: Store, ctx: Path, with_users: str
) -> None:
    """As docker records it: only a RUN as that user has to find it."""
    assert build(store, ctx, f"FROM {with_users}\nUSER ghost\n").config.user == "ghost"
    assert build(store, ctx, f"FROM {with_users}\nUSER app:nogroup\n").config.user == (
        "app:nogroup"
    )
    assert build(store, ctx, "FROM scratch\nUSER 1234:55\n").config.user == "1234:55"


def test_args_build_args_and_predefined_platform_args(store: Store, ctx: Path) -> None:
    dockerfile = """ARG BASE=scratch
ARG GLOBAL=g
FROM ${BASE}
ARG GLOBAL
ARG LOCAL=default
ARG TARGETARCH
ENV OUT=$GLOBAL-$LOCAL-$TARGETARCH
"""
    built = build(store, ctx, dockerfile, build_args={"LOCAL": "given"})
    assert built.config.env_map()["OUT"] == "g-given-amd64"
    # ARGs are not inherited across stages, nor kept in the image config
    assert all(not e.startswith(("LOCAL=", "GLOBAL=")) for e in built.config.env)


def test_stage_from_stage_inherits_config_and_layers(store: Store, ctx: Path) -> None:
    built = build(
        store, ctx, "FROM scratch AS base\nENV X=1\nCOPY a.txt /a\nFROM base\nCOPY b.txt /b\n"
    )
    assert built.config.env_map()["X"] == "1"
    assert set(built.files()) >= {"a", "b"}
    assert len(built.layers()) == 2


def test_target_stops_at_the_named_stage(store: Store, ctx: Path) -> None:
    built = build(
        store, ctx, "FROM scratch AS first\nCOPY a.txt /a\nFROM scratch\nCOPY b.txt /b\n",
        target="first",
    )  # fmt: skip
    assert set(built.files()) == {"a"}


# -- cache, determinism, errors ------------------------------------------------------------


def test_second_build_is_fully_cached_and_a_change_reruns_from_its_copy(
    store: Store, ctx: Path
) -> None:
    dockerfile = "FROM scratch\nCOPY a.txt /a\nCOPY b.txt /b\nENV X=1\n"
    first = build(store, ctx, dockerfile)
    assert [s["instruction"] for s in first.executed()] == ["FROM", "COPY", "COPY", "ENV"]
    second = build(store, ctx, dockerfile)
    assert [s["instruction"] for s in second.executed()] == ["FROM", "ENV"]
    assert second.result.descriptor == first.result.descriptor
    (ctx / "b.txt").write_text("changed\n")
    third = build(store, ctx, dockerfile)
    copies = [(s["line"], s["cached"]) for s in third.steps() if s["instruction"] == "COPY"]
    assert copies == [(2, True), (3, False)]
    assert third.files()["b"][1] == b"changed\n"
    no_cache = build(store, ctx, dockerfile, no_cache=True)
    assert all(not s["cached"] for s in no_cache.steps())


def test_same_dockerfile_in_two_stores_gives_the_same_digest(tmp_path: Path, ctx: Path) -> None:
    dockerfile = 'FROM scratch\nWORKDIR /w\nCOPY dir ./d\nLABEL a=b\nCMD ["/w/d"]\n'
    one = build(Store(tmp_path / "s1"), ctx, dockerfile)
    two = build(Store(tmp_path / "s2"), ctx, dockerfile)
    assert one.result.descriptor.digest == two.result.descriptor.digest


def test_missing_base_says_how_to_provide_it(store: Store, ctx: Path) -> None:
    with pytest.raises(NotFoundError) as err:
        build(store, ctx, "FROM golang:1.17 AS builder\n")
    message = str(err.value)
    assert "Dockerfile:1" in message and "golang:1.17" in message
    assert "distroless load" in message and "[aliases]" in message


def test_missing_distroless_base_without_recipes_is_a_clear_error(store: Store, ctx: Path) -> None:
    with pytest.raises(NotFoundError, match="distroless bases build base"):
        build(store, ctx, "FROM gcr.io/distroless/base\n")


def test_unknown_target_and_bad_flags_are_errors(store: Store, ctx: Path) -> None:
    with pytest.raises(DockerfileError, match="target stage 'nope'"):
        build(store, ctx, "FROM scratch\n", target="nope")
    with pytest.raises(BuildError, match=r"Dockerfile:2: --chmod=9z"):
        build(store, ctx, "FROM scratch\nCOPY --chmod=9z a.txt /a\n")
    with pytest.raises(BuildError, match=r"Dockerfile:2: RUN --mount=type=ssh,required needs"):
        build(store, ctx, "FROM scratch\nRUN --mount=type=ssh,required=true true\n")
    with pytest.raises(DockerfileError, match=r"Dockerfile:2:5: RUN --mount=type=cache needs"):
        build(store, ctx, "FROM scratch\nRUN --mount=type=cache true\n")


def test_a_failed_build_leaves_earlier_steps_cached(store: Store, ctx: Path) -> None:
    with pytest.raises(BuildError):
        build(store, ctx, "FROM scratch\nCOPY a.txt /a\nCOPY nope /n\n")
    again = build(store, ctx, "FROM scratch\nCOPY a.txt /a\n")
    assert [s["cached"] for s in again.steps() if s["instruction"] == "COPY"] == [True]


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server over a temporary directory: (base URL, directory)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_add_url_with_and_without_checksum(
    store: Store, ctx: Path, http_root: tuple[str, Path]
) -> None:
    url, www = http_root
    (www / "tool.bin").write_bytes(b"downloaded\n")
    good = "sha256:" + hashlib.sha256(b"downloaded\n").hexdigest()
    built = build(
        store,
        ctx,
        f"FROM scratch\nADD {url}/tool.bin /opt/\nADD --checksum={good} {url}/tool.bin /pinned\n",
    )
    files = built.files()
    assert files["opt/tool.bin"][1] == b"downloaded\n"
    assert files["opt/tool.bin"][0].mode == 0o600
    assert files["pinned"][1] == b"downloaded\n"
    bad = "sha256:" + "0" * 64
    with pytest.raises(BuildError, match=r"Dockerfile:2: .*has checksum sha256:"):
        build(store, ctx, f"FROM scratch\nADD --checksum={bad} {url}/tool.bin /x\n")
    with pytest.raises(BuildError, match=r"Dockerfile:2: downloading .* HTTP 404"):
        build(store, ctx, f"FROM scratch\nADD {url}/missing /x\n")
    # failed steps leave no downloads, partial blobs or temporary files behind
    assert list((store.root / "state" / "build-scratch").iterdir()) == []
    assert list(store.tmp.iterdir()) == []


def test_add_url_takes_chmod_and_chown(
    store: Store, ctx: Path, http_root: tuple[str, Path]
) -> None:
    url, www = http_root
    (www / "tool.bin").write_bytes(b"downloaded\n")
    built = build(
        store,
        ctx,
        f"FROM scratch\nADD --chmod=644 --chown=1000:1000 {url}/tool.bin /owned\n"
        f"ADD --chmod=u+x,g+r {url}/tool.bin /symbolic\n",
    )
    files = built.files()
    owned = files["owned"][0]
    assert (oct(owned.mode), owned.uid, owned.gid) == (oct(0o644), 1000, 1000)
    assert files["owned"][1] == b"downloaded\n"
    assert oct(files["symbolic"][0].mode) == oct(0o740)  # applied to the download's 0600


def test_onbuild_triggers_of_the_base_run_in_the_child(store: Store, ctx: Path) -> None:
    parent = build(store, ctx, "FROM scratch\nONBUILD COPY a.txt /from-trigger\nONBUILD ENV T=1\n")
    store.tag("parent:latest", parent.result.descriptor)
    child = build(store, ctx, "FROM parent\nCOPY b.txt /b\n")
    assert child.files()["from-trigger"][1] == b"alpha\n"
    assert child.config.env_map()["T"] == "1"
    assert child.config.on_build == ()  # triggers are consumed, not inherited
    copies = [s["line"] for s in child.steps() if s["instruction"] == "COPY"]
    assert copies == [1, 2]  # the trigger is reported on the FROM line


def test_unsupported_copy_features_are_refused(store: Store, ctx: Path) -> None:
    with pytest.raises(BuildError, match=r"Dockerfile:2: ADD of a git repository"):
        build(store, ctx, "FROM scratch\nADD https://example.invalid/repo.git /src\n")


def test_independent_stages_build_in_parallel_with_the_same_result(
    tmp_path: Path, ctx: Path
) -> None:
    dockerfile = (
        "FROM scratch AS left\nCOPY a.txt /l\nFROM scratch AS right\nCOPY b.txt /r\n"
        "FROM scratch\nCOPY --from=left /l /l\nCOPY --from=right /r /r\n"
    )
    serial = build(Store(tmp_path / "serial"), ctx, dockerfile, jobs=1)
    parallel = build(Store(tmp_path / "parallel"), ctx, dockerfile, jobs=4)
    assert parallel.result.descriptor.digest == serial.result.descriptor.digest
    assert {s["stage"] for s in parallel.steps()} == {"left", "right", "stage-2"}
    with pytest.raises(BuildError, match=r"Dockerfile:4: 'missing' is not in the build context"):
        build(
            Store(tmp_path / "failing"),
            ctx,
            dockerfile.replace("COPY b.txt /r", "COPY missing /r"),
            jobs=4,
        )


def test_a_wildcard_matching_nothing_copies_nothing_and_a_missing_path_is_an_error(
    store: Store, ctx: Path
) -> None:
    built = build(store, ctx, "FROM scratch\nCOPY nomatch* a.txt /some/\n")
    assert {k for k in built.files() if k.startswith("some/")} == {"some/a.txt"}
    with pytest.raises(BuildError, match=r"Dockerfile:2: 'nomatch' is not in the build context"):
        build(store, ctx, "FROM scratch\nCOPY nomatch /some/\n")


def test_workdir_is_made_as_the_user_through_links_and_keeps_existing_parents(
    store: Store, ctx: Path
) -> None:
    store_image(
        store,
        "wd-base:1",
        [
            [
                Entry.file("etc/passwd", PASSWD.encode()),
                Entry.file("etc/group", GROUP.encode()),
                Entry.directory("opt", 0o700, 1000, 1000),
                Entry.symlink("optlink", "/opt"),
            ]
        ],
    )
    built = build(
        store,
        ctx,
        "FROM wd-base:1\nUSER app\nWORKDIR /made/by/app\nUSER 7:8\nWORKDIR /optlink/wd\n",
    )
    files = built.files()
    made = files["made/by/app"][0]
    assert (made.uid, made.gid, made.mode) == (1000, 1001, 0o755)
    assert (files["made"][0].uid, files["made"][0].gid) == (1000, 1001)
    assert files["optlink"][0].issym()  # followed, not replaced by a directory
    wd = files["opt/wd"][0]
    assert (wd.uid, wd.gid) == (7, 8)
    opt = files["opt"][0]
    assert (opt.mode & 0o7777, opt.uid, opt.gid) == (0o700, 1000, 1000)
    assert built.config.working_dir == "/optlink/wd"


def test_a_shebang_heredoc_is_the_program_the_shell_runs(store: Store, ctx: Path) -> None:
    runner = FakeRunner()
    built = build(
        store, ctx,
        "FROM scratch\nRUN <<-RUNME\n\t#!/bin/sh\n\techo hi\n\tRUNME\n"
        "RUN cat <<EOF\n#!/bin/sh\nEOF\n",
        runner=runner,
    )  # fmt: skip
    program, piped = runner.steps
    assert program.args == ("/bin/sh", "-c", "/dev/pipes/RUNME")
    assert [(m.destination, m.readonly) for m in program.mounts] == [("/dev/pipes", True)]
    assert piped.args == ("/bin/sh", "-c", "cat <<EOF\n#!/bin/sh\nEOF\n") and not piped.mounts
    assert built.result.config.history[-2].created_by == "RUN /bin/sh -c /dev/pipes/RUNME"


def test_a_shebang_heredoc_whose_name_is_no_file_name_is_refused(store: Store, ctx: Path) -> None:
    with pytest.raises(BuildError, match=r"Dockerfile:2: the here-document 'a/b' starts with #!"):
        build(store, ctx, "FROM scratch\nRUN <<'a/b'\n#!/bin/sh\na/b\n", runner=FakeRunner())
