from __future__ import annotations

import pytest

from distroless.errors import RegistryError
from distroless.registry_config import UserConfig
from distroless.transports.registry import Registries


def test_insecure_flag_and_config_choose_plain_http() -> None:
    config = UserConfig.from_dict(
        {
            "registry": {
                "origin.test": {"mirrors": ["m1.test", "https://m2.test", "m3.test:5000"]},
                "m3.test:5000": {"insecure": True},
            }
        }
    )
    with Registries(config, insecure=("other.test",)) as regs:
        assert regs.origin("origin.test").base_url == "https://origin.test"
        assert regs.origin("other.test").base_url == "http://other.test"
        assert [e.base_url for e in regs.pull_endpoints("origin.test")] == [
            "https://m1.test",
            "https://m2.test",
            "http://m3.test:5000",
            "https://origin.test",
        ]
        assert [e.host for e in regs.pull_endpoints("nomirror.test")] == ["nomirror.test"]


def test_clients_are_shared_per_endpoint() -> None:
    with Registries() as regs:
        a = regs.client(regs.origin("a.test"))
        assert regs.client(regs.origin("a.test")) is a
        assert regs.client(regs.origin("b.test")) is not a


@pytest.mark.parametrize("entry", ["https://me:pa55word@m.test", "me:pa55word@m.test:5000"])
def test_mirror_with_credentials_in_its_address_is_refused_unquoted(entry: str) -> None:
    """The entry's host is named in messages and logs; its password must not be."""
    config = UserConfig.from_dict({"registry": {"origin.test": {"mirrors": [entry]}}})
    with Registries(config) as regs, pytest.raises(RegistryError, match="credentials") as exc:
        regs.pull_endpoints("origin.test")
    assert "pa55word" not in str(exc.value)
    assert "me:" not in str(exc.value)
