from __future__ import annotations

from pathlib import Path

import pytest

from distroless.errors import UsageError
from distroless.runtime.options import (
    Mount,
    RunOptions,
    check_network,
    parse_env,
    parse_security_opts,
    parse_volume,
)


def test_parse_env_sets_copies_and_drops() -> None:
    host = {"FROM_HOST": "h"}
    assert parse_env(["A=1", "B=", "C=x=y", "FROM_HOST", "MISSING"], host) == {
        "A": "1",
        "B": "",
        "C": "x=y",
        "FROM_HOST": "h",
    }


def test_parse_env_rejects_empty_key() -> None:
    with pytest.raises(UsageError, match="'=v'"):
        parse_env(["=v"], {})


def test_parse_volume_forms() -> None:
    assert parse_volume("/src:/dst") == Mount(Path("/src"), "/dst", False)
    assert parse_volume("/src:/dst/:ro") == Mount(Path("/src"), "/dst", True)
    assert parse_volume("/src:/a/../b:rw") == Mount(Path("/src"), "/b", False)


@pytest.mark.parametrize(
    "text", ["src:/dst", "/src:dst", "/src", "/src:/dst:rx", "/src:/", "/a:/b:ro:x", ":/dst"]
)
def test_parse_volume_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="invalid volume"):
        parse_volume(text)


def test_check_network() -> None:
    assert check_network("none") == "none"
    assert check_network("private") == "private"
    assert RunOptions().network == "private"  # the host's network is an opt-in
    with pytest.raises(UsageError, match="bridge"):
        check_network("bridge")


def test_security_opts() -> None:
    assert parse_security_opts([]) is True
    assert parse_security_opts(["seccomp=unconfined"]) is False
    assert parse_security_opts(["no-new-privileges", "no-new-privileges=true"]) is True
    for bad in ("seccomp=/custom.json", "apparmor=unconfined", "no-new-privileges=false"):
        with pytest.raises(UsageError, match="unsupported --security-opt"):
            parse_security_opts([bad])
