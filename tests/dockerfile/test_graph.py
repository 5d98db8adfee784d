"""Stage graph: which stages a target needs, in what order."""

from __future__ import annotations

import pytest

from distroless.dockerfile import parse
from distroless.dockerfile.graph import build_graph, global_arg_env
from distroless.errors import DockerfileError

MULTI = """\
FROM debian AS deps
RUN make deps
FROM deps AS build
RUN make
FROM debian AS test
COPY --from=build /out /out
RUN make test
FROM debian AS unused
RUN true
FROM gcr.io/distroless/cc
COPY --from=build /out/app /app
"""


def _names(graph_order: tuple[object, ...]) -> list[str | None]:
    return [getattr(s, "name", None) or str(getattr(s, "index", "?")) for s in graph_order]


def test_default_target_is_last_stage_and_unused_stages_are_pruned() -> None:
    graph = build_graph(parse(MULTI))
    assert graph.target.index == 4
    assert _names(graph.order) == ["deps", "build", "4"]


def test_named_target_case_insensitive() -> None:
    graph = build_graph(parse(MULTI), target="TEST")
    assert _names(graph.order) == ["deps", "build", "test"]
    assert graph.base_stage(graph.order[1]) is graph.order[0]
    assert graph.base_stage(graph.order[0]) is None
    assert [s.name for s in graph.dependencies(graph.order[2])] == ["build"]


def test_unknown_target_is_named() -> None:
    with pytest.raises(DockerfileError, match=r"target stage 'nope' could not be found"):
        build_graph(parse(MULTI), target="nope")


def test_copy_from_index_and_image() -> None:
    df = parse("FROM a\nFROM b\nFROM c\nCOPY --from=0 /x /x\nCOPY --from=alpine:3 /y /y\n")
    assert [s.index for s in build_graph(df).order] == [0, 2]


def test_copy_from_index_out_of_range() -> None:
    df = parse("FROM a\nCOPY --from=3 /x /x\n")
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: COPY --from=3 names stage 3"):
        build_graph(df)


def test_copy_from_own_stage_is_an_error() -> None:
    with pytest.raises(DockerfileError, match="refers to its own stage"):
        build_graph(parse("FROM a AS me\nCOPY --from=me /x /x\n"))


def test_run_mount_from_stage() -> None:
    df = parse(
        "FROM a AS tools\nFROM b AS other\nFROM c\n"
        "RUN --mount=type=bind,from=tools,target=/t --mount=type=cache,target=/c true\n"
    )
    graph = build_graph(df)
    assert [s.index for s in graph.order] == [0, 2]
    assert [e.how for e in graph.edges] == ["RUN --mount"]


def test_forward_copy_reference_is_followed_and_cycles_detected() -> None:
    df = parse("FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\nRUN true\n")
    assert [s.name for s in build_graph(df, target="one").order] == ["two", "one"]
    cyclic = parse("FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\nCOPY --from=one /y /y\n")
    with pytest.raises(
        DockerfileError,
        match=r"^Dockerfile:2: circular dependency between stages: two -> one -> two$",
    ):
        build_graph(cyclic)


def test_from_refers_only_to_earlier_stages() -> None:
    # "FROM later" before a stage named "later" is an image, not a dependency.
    df = parse("FROM later AS first\nFROM debian AS later\n")
    graph = build_graph(df, target="first")
    assert [s.name for s in graph.order] == ["first"]


def test_from_expanded_with_global_args_and_build_args() -> None:
    df = parse(
        "ARG BASE=builder\nARG TAG\nFROM debian AS builder\nFROM ${BASE}\nFROM other:${TAG:-1}\n"
    )
    graph = build_graph(df, target=None)
    assert graph.bases == {0: "debian", 1: "builder", 2: "other:1"}
    assert [s.index for s in graph.order] == [2]
    graph = build_graph(df, build_args={"TAG": "2", "BASE": "x"})
    assert graph.bases[1] == "x" and graph.bases[2] == "other:2"
    assert global_arg_env(df, {"TAG": "9"}) == {"BASE": "builder", "TAG": "9"}


def test_copy_from_expanded_with_stage_args_and_env() -> None:
    df = parse(
        "ARG SRC=one\nFROM a AS one\nFROM a AS two\n"
        "FROM c\nARG SRC\nCOPY --from=$SRC /x /x\nENV OTHER=two\nCOPY --from=${OTHER} /y /y\n"
    )
    assert [s.name for s in build_graph(df).order] == ["one", "two", None]
    assert [s.name for s in build_graph(df, build_args={"SRC": "two"}).order] == ["two", None]


def test_global_arg_not_visible_in_stage_without_redeclaration() -> None:
    df = parse("ARG SRC=one\nFROM a AS one\nFROM c\nCOPY --from=$SRC /x /x\n")
    # $SRC is empty inside the stage, so --from names nothing and no edge exists.
    assert [s.index for s in build_graph(df).order] == [1]


def test_env_inherited_from_parent_stage() -> None:
    df = parse(
        "FROM a AS src\nFROM a AS base\nENV FROM_STAGE=src\nARG NOT_INHERITED=src\n"
        "FROM base\nCOPY --from=$FROM_STAGE /x /x\n"
    )
    assert [s.name for s in build_graph(df).order] == ["src", "base", None]


def test_expansion_error_names_line() -> None:
    df = parse("FROM a\nCOPY --from=${X /x /y\n")
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: syntax error: missing"):
        build_graph(df)
