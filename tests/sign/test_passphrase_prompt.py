"""Where ``key generate`` and ``sign`` get a passphrase when no file or variable gives one.

On a terminal they ask (twice for a new key, hiding what is typed); with no terminal they
refuse in one line instead of waiting for input that cannot come.  The terminal is a real
pseudo-terminal driven with pexpect, and the command is the installed executable.
"""

from __future__ import annotations

import os
from pathlib import Path

import pexpect

from distroless.sign import keys
from tests.helpers import Cli, distroless_executable
from tests.sign.test_supply_chain import local_image

_NO_PASSPHRASE_ENV = ("DISTROLESS_KEY_PASSPHRASE", "COSIGN_PASSWORD")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _NO_PASSPHRASE_ENV}
    env["TERM"] = "dumb"
    return env


def _spawn(root: Path, cwd: Path, *args: str) -> pexpect.spawn[str]:
    return pexpect.spawn(
        str(distroless_executable()), ["--root", str(root), *args],
        env=_env(), cwd=str(cwd), timeout=30, encoding="utf-8",
    )  # fmt: skip


def _finish(child: pexpect.spawn[str]) -> tuple[int, str]:
    rest = child.read()
    child.close()
    assert child.exitstatus is not None
    return child.exitstatus, rest


def test_key_generate_asks_twice_on_a_terminal_and_seals_with_what_was_typed(
    tmp_path: Path,
) -> None:
    child = _spawn(tmp_path / "store", tmp_path, "key", "generate")
    child.expect("Passphrase for the new private key: ")
    child.sendline("typed secret")
    child.expect("Repeat for confirmation: ")
    child.sendline("typed secret")
    code, rest = _finish(child)
    assert code == 0, rest
    assert "typed secret" not in rest  # the input is not echoed
    assert "Private key written to cosign.key" in rest
    private = (tmp_path / "cosign.key").read_bytes()
    public = keys.load_public_key((tmp_path / "cosign.pub").read_bytes())
    key = keys.load_private_key(private, "typed secret")
    assert keys.key_id(key.public_key()) == keys.key_id(public)


def test_a_mismatched_confirmation_is_asked_again(tmp_path: Path) -> None:
    child = _spawn(tmp_path / "store", tmp_path, "key", "generate")
    child.expect("Passphrase for the new private key: ")
    child.sendline("one")
    child.expect("Repeat for confirmation: ")
    child.sendline("two")
    child.expect("do not match")
    child.expect("Passphrase for the new private key: ")
    child.sendline("three")
    child.expect("Repeat for confirmation: ")
    child.sendline("three")
    code, rest = _finish(child)
    assert code == 0, rest
    keys.load_private_key((tmp_path / "cosign.key").read_bytes(), "three")


def test_sign_asks_for_the_keys_passphrase_on_a_terminal(tmp_path: Path, cli: Cli) -> None:
    private, _ = keys.generate_keypair("pw", strength="legacy")
    (tmp_path / "cosign.key").write_bytes(private)
    local_image(cli.root, "img:v1", b"x")
    child = _spawn(cli.root, tmp_path, "sign", "img:v1", "--key", "cosign.key")
    child.expect(r"Passphrase for cosign\.key: ")
    child.sendline("pw")
    code, rest = _finish(child)
    assert code == 0, rest
    assert "Repeat" not in rest  # an existing key is asked for once


def test_without_a_passphrase_or_terminal_it_refuses_in_one_line(tmp_path: Path, cli: Cli) -> None:
    env: dict[str, str | None] = dict.fromkeys(_NO_PASSPHRASE_ENV)
    prefix = tmp_path / "cosign"
    result = cli.subprocess("key", "generate", "--output-key-prefix", prefix, env=env, input="")
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert message == (
        "error: the new private key needs a passphrase: "
        "give --key-passphrase-file or set DISTROLESS_KEY_PASSPHRASE"
    )
    assert result.stdout == ""
    assert not os.path.lexists(f"{prefix}.key") and not os.path.lexists(f"{prefix}.pub")
    # an encrypted key to sign with is refused the same way, naming the key
    private, _ = keys.generate_keypair("pw", strength="legacy")
    (tmp_path / "signing.key").write_bytes(private)
    local_image(cli.root, "img:v1", b"x")
    signed = cli.subprocess("sign", "img:v1", "--key", tmp_path / "signing.key", env=env, input="")
    assert signed.exit_code == 2
    assert signed.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'signing.key'} needs a passphrase: "
        "give --key-passphrase-file or set DISTROLESS_KEY_PASSPHRASE"
    ]
    assert "Traceback" not in result.stderr + signed.stderr
