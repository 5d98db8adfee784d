from __future__ import annotations

from pathlib import Path

import pytest

from distroless.errors import UsageError
from distroless.runtime.options import Mount, check_network, parse_env, parse_volume


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
    with pytest.raises(UsageError, match="bridge"):
        check_network("bridge")
