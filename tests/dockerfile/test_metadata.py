"""Metadata steps as a pure function: a stage's config and history in, config and history out.

No store, no context, no layers: the steps read only their arguments (and, for ``USER``,
the stage's ``/etc/passwd`` through the function they are given).
"""

from __future__ import annotations

import pytest

from distroless.dockerfile import parse
from distroless.dockerfile.metadata import MetadataScope, apply_metadata
from distroless.dockerfile.stage import StageState, StateDraft
from distroless.dockerfile.workspace import SourceFile
from distroless.errors import BuildError
from distroless.oci.models import ContainerConfig, Platform

CREATED = "2021-01-01T00:00:00Z"
SCOPE = MetadataScope(
    source=SourceFile("Dockerfile", "\\"),
    created=CREATED,
    build_args={"V": "from-cli"},
    global_env={"G": "global"},
    inherited=frozenset({"G"}),
)
BASE = StageState(
    platform=Platform("linux", "amd64"),
    config=ContainerConfig(cmd=("base-cmd",), env=("PATH=/bin",)),
)


def _apply(lines: str) -> tuple[StageState, list[str]]:
    draft = StateDraft(BASE)
    texts, cmd_set = [], False
    for ins in parse(f"FROM scratch\n{lines}").stages[0].instructions:
        step = apply_metadata(draft, ins, SCOPE, cmd_set=cmd_set)
        cmd_set = step.cmd_set
        texts.append(step.text)
    return draft.state(), texts


def test_config_and_history_come_out_of_the_instructions() -> None:
    state, texts = _apply(
        "ARG V\nARG G\nENV A=$V B=$G\nLABEL l=$A\nEXPOSE 80 53/udp\nUSER 7:8\n"
        'ENTRYPOINT ["/app"]\nSTOPSIGNAL SIGINT\nONBUILD RUN x\n'
    )
    config = state.config
    assert config.env_map() == {"PATH": "/bin", "A": "from-cli", "B": "global"}
    assert config.labels == {"l": "from-cli"}
    assert set(config.exposed_ports) == {"80/tcp", "53/udp"}
    assert (config.user, config.entrypoint, config.stop_signal) == ("7:8", ("/app",), "SIGINT")
    assert config.cmd is None  # an ENTRYPOINT clears the base's CMD, as docker does
    assert config.on_build == ("RUN x",)
    assert texts[2:4] == ["ENV A=from-cli B=global", "LABEL l=from-cli"]
    # ARG records nothing; every other step is an empty-layer history entry at CREATED
    shown = [h.created_by for h in state.history]
    assert shown == texts[2:]
    assert all(h.empty_layer and h.created == CREATED for h in state.history)
    assert BASE.config.env == ("PATH=/bin",) and BASE.history == ()  # the input is untouched


def test_a_cmd_in_the_stage_survives_a_later_entrypoint() -> None:
    state, _ = _apply('CMD ["run"]\nENTRYPOINT ["/app"]\n')
    assert (state.config.cmd, state.config.entrypoint) == (("run",), ("/app",))


def test_user_is_recorded_as_given_and_an_empty_one_refused() -> None:
    state, _ = _apply("USER ghost:nogroup\n")  # docker records it; a RUN as ghost fails
    assert state.config.user == "ghost:nogroup"
    with pytest.raises(BuildError, match=r"^Dockerfile:2: USER needs a user name or uid"):
        _apply("USER :7\n")


def test_empty_exec_forms_are_null_and_maintainer_is_the_author_only() -> None:
    state, texts = _apply("CMD []\nENTRYPOINT []\nMAINTAINER Jane\n")
    assert (state.config.cmd, state.config.entrypoint) == (None, None)
    assert texts[:2] == ["CMD []", "ENTRYPOINT []"]
    assert state.author == "Jane" and not state.config.labels
