"""Every input of a RUN step's cache key, pinned: changing any one of them reruns the step.

A build cache that forgets an input hands back a stale layer: a step whose network, mount,
secret or here-document changed would be taken from the cache and never run.  Each case
below builds a Dockerfile twice (the second build must come from the cache, or the case
proves nothing), then a variant that differs in one input only, which must run the step
again.  The step runs in a fake runner, so what is tested is the key, not the sandbox.
Inputs that must *not* enter the key (a secret's value, a cache mount's id) are pinned
the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from distroless.dockerfile.secrets import BuildSecret
from distroless.dockerfile.stage import StageState
from distroless.layers.layer import Layer
from distroless.oci import mediatypes as mt
from distroless.oci.digest import Digest
from distroless.oci.models import ContainerConfig, Descriptor, HistoryEntry, Platform
from distroless.store import Store
from tests.dockerfile.executor_helpers import Built, FakeRunner, build, write_context

_HOST = Platform.host()
_SECRETS = {"a": BuildSecret("a", b"one"), "b": BuildSecret("b", b"two")}


@dataclass(frozen=True)
class Case:
    """A Dockerfile and a variant of it; each with its build options and context files."""

    dockerfile: str
    variant: str
    options: Mapping[str, Any] = field(default_factory=dict)
    variant_options: Mapping[str, Any] | None = None
    files: Mapping[str, str] = field(default_factory=lambda: {"f.txt": "one\n"})
    variant_files: Mapping[str, str] | None = None


def _secret(mount: str, variant: str) -> Case:
    return Case(
        f"FROM scratch\nRUN --mount=type=secret,{mount} x\n",
        f"FROM scratch\nRUN --mount=type=secret,{variant} x\n",
        {"secrets": _SECRETS},
    )


def _mount(mount: str, variant: str) -> Case:
    return Case(
        f"FROM scratch\nRUN --mount={mount} x\n", f"FROM scratch\nRUN --mount={variant} x\n"
    )


CHANGED: dict[str, Case] = {
    "command": Case("FROM scratch\nRUN echo a\n", "FROM scratch\nRUN echo b\n"),
    "exec-form": Case('FROM scratch\nRUN ["echo", "a"]\n', 'FROM scratch\nRUN ["echo", "b"]\n'),
    "shell": Case(
        "FROM scratch\nRUN echo a\n", 'FROM scratch\nSHELL ["/bin/bash", "-c"]\nRUN echo a\n'
    ),
    "env": Case("FROM scratch\nENV X=1\nRUN echo\n", "FROM scratch\nENV X=2\nRUN echo\n"),
    "user": Case("FROM scratch\nUSER 1\nRUN echo\n", "FROM scratch\nUSER 2\nRUN echo\n"),
    "build-arg": Case(
        "FROM scratch\nARG A\nRUN echo\n",
        "FROM scratch\nARG A\nRUN echo\n",
        {"build_args": {"A": "1"}},
        {"build_args": {"A": "2"}},
    ),
    "network": Case("FROM scratch\nRUN echo\n", "FROM scratch\nRUN --network=none echo\n"),
    "network-host": Case(
        "FROM scratch\nRUN --network=none echo\n",
        "FROM scratch\nRUN --network=host echo\n",
        {"allow": frozenset({"network.host"})},
    ),
    "cache-target": _mount("type=cache,target=/c", "type=cache,target=/d"),
    "tmpfs-target": _mount("type=tmpfs,target=/t", "type=tmpfs,target=/u"),
    "bind-target": _mount("type=bind,source=f.txt,target=/b", "type=bind,source=f.txt,target=/c"),
    "bind-source": Case(
        "FROM scratch\nRUN --mount=type=bind,source=f.txt,target=/b x\n",
        "FROM scratch\nRUN --mount=type=bind,source=g.txt,target=/b x\n",
        files={"f.txt": "one\n", "g.txt": "two\n"},
    ),
    "bind-content": Case(
        "FROM scratch\nRUN --mount=type=bind,source=f.txt,target=/b x\n",
        "FROM scratch\nRUN --mount=type=bind,source=f.txt,target=/b x\n",
        variant_files={"f.txt": "two\n"},
    ),
    "secret-id": _secret("id=a,target=/s", "id=b,target=/s"),
    "secret-target": _secret("id=a,target=/s", "id=a,target=/t"),
    "secret-env": _secret("id=a,env=S", "id=a,env=T"),
    "secret-mode": _secret("id=a", "id=a,mode=0440"),
    "secret-uid": _secret("id=a", "id=a,uid=7"),
    "secret-gid": _secret("id=a", "id=a,gid=7"),
    # an optional secret that was not given still marks the step: it differs from no mount
    "secret-mount": Case("FROM scratch\nRUN x\n", "FROM scratch\nRUN --mount=type=secret,id=a x\n"),
    "secret-absent": Case(
        "FROM scratch\nRUN --mount=type=secret,id=a x\n",
        "FROM scratch\nRUN --mount=type=secret,id=a x\n",
        {"secrets": {}},
        {"secrets": _SECRETS},
    ),
    # the first here-document of a lone ``<<EOF`` is the script, and part of the text; the
    # second is read by the shell only, so only the key's here-document input sees it
    "heredoc": Case(
        "FROM scratch\nRUN <<A <<B\none\nA\ntwo\nB\n",
        "FROM scratch\nRUN <<A <<B\none\nA\nthree\nB\n",
    ),
    "heredoc-script": Case("FROM scratch\nRUN <<A\none\nA\n", "FROM scratch\nRUN <<A\ntwo\nA\n"),
    # a #! body runs as /dev/pipes/A: the text is the same, the program is not
    "heredoc-program": Case(
        "FROM scratch\nRUN <<A\n#!/bin/sh\none\nA\n", "FROM scratch\nRUN <<A\n#!/bin/sh\ntwo\nA\n"
    ),
    "ssh-target": _mount("type=ssh", "type=ssh,target=/agent"),
    "platform": Case(
        f"FROM --platform={_HOST} scratch\nRUN echo\n",
        f"FROM --platform={_HOST}/v9 scratch\nRUN echo\n",
    ),
}

UNCHANGED: dict[str, Case] = {
    # BuildKit keeps secret values out of the key; a rotated token must not rebuild
    "secret-value": Case(
        "FROM scratch\nRUN --mount=type=secret,id=a x\n",
        "FROM scratch\nRUN --mount=type=secret,id=a x\n",
        {"secrets": _SECRETS},
        {"secrets": {"a": BuildSecret("a", b"rotated")}},
    ),
    # the cache mount's content is outside the key, and so is the name it is kept under
    "cache-id": _mount("type=cache,target=/c,id=x", "type=cache,target=/c,id=y"),
}


def _build(store: Store, ctx: Path, runner: FakeRunner, dockerfile: str, **options: Any) -> Built:
    return build(store, ctx, dockerfile, runner=runner, **options)


def _first_and_again(tmp_path: Path, case: Case) -> tuple[Store, Path, FakeRunner]:
    """Build the case twice; the second build must take its RUN from the cache."""
    store = Store(tmp_path / "store")
    ctx = write_context(tmp_path / "ctx", case.files)
    runner = FakeRunner()
    first = _build(store, ctx, runner, case.dockerfile, **case.options)
    assert len(first.executed("RUN")) == 1
    again = _build(store, ctx, runner, case.dockerfile, **case.options)
    assert again.executed("RUN") == [] and len(runner.steps) == 1
    if case.variant_files is not None:
        write_context(ctx, case.variant_files)
    return store, ctx, runner


def _variant(store: Store, ctx: Path, runner: FakeRunner, case: Case) -> Built:
    options = case.options if case.variant_options is None else case.variant_options
    return _build(store, ctx, runner, case.variant, **options)


@pytest.mark.parametrize("name", sorted(CHANGED))
def test_changing_one_input_reruns_the_step(tmp_path: Path, name: str) -> None:
    case = CHANGED[name]
    store, ctx, runner = _first_and_again(tmp_path, case)
    variant = _variant(store, ctx, runner, case)
    assert len(variant.executed("RUN")) == 1, f"{name}: the changed step came from the cache"
    assert len(runner.steps) == 2


@pytest.mark.parametrize("name", sorted(UNCHANGED))
def test_what_is_not_an_input_keeps_the_step_cached(tmp_path: Path, name: str) -> None:
    case = UNCHANGED[name]
    store, ctx, runner = _first_and_again(tmp_path, case)
    variant = _variant(store, ctx, runner, case)
    assert variant.executed("RUN") == [] and len(runner.steps) == 1


def _layer(n: int) -> Layer:
    digest = Digest("sha256:" + f"{n:x}" * 64)
    return Layer(Descriptor(mt.OCI_LAYER_GZIP, digest, 1), digest)


_STATE = StageState(
    platform=Platform("linux", "amd64"),
    config=ContainerConfig(env=("X=1",)),
    layers=(_layer(1),),
    history=(HistoryEntry("RUN a"),),
    author="a",
    origin="sha256:" + "0" * 64,
)


@pytest.mark.parametrize(
    "changed",
    [
        {"platform": Platform("linux", "amd64", "v2")},
        {"config": ContainerConfig(env=("X=2",))},
        {"layers": (_layer(2),)},
        {"history": (HistoryEntry("RUN b"),)},
        {"author": "b"},
        {"origin": "scratch"},
    ],
    ids=lambda changed: next(iter(changed)),
)
def test_each_part_of_a_stage_enters_its_digest(changed: dict[str, Any]) -> None:
    """The parent digest every step's key starts from: each part of the stage counts.

    Through it a RUN's key sees ENV, USER, WORKDIR and SHELL (the config), the platform and
    the files below the step.  A build changes config and history together, so this pins
    the config on its own.
    """
    assert replace(_STATE, **changed).digest() != _STATE.digest()
    assert replace(_STATE).digest() == _STATE.digest()
