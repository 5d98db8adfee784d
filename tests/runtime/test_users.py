from __future__ import annotations

from pathlib import Path

import pytest

from distroless.errors import SandboxError
from distroless.runtime.users import ResolvedUser, parse_passwd, resolve_user, resolve_user_in

PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "# a comment line\n"
    "broken:line\n"
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
    "app:x:1000:1000::/srv/app:/sbin/nologin\n"
)
GROUP = "root:x:0:\nstaff:x:50:app,nonroot\nvideo:x:44:app\nnonroot:x:65532:\napp:x:1000:\n"


def test_parse_passwd_skips_malformed_lines() -> None:
    names = [e.name for e in parse_passwd(PASSWD)]
    assert names == ["root", "nonroot", "app"]


def test_numeric_uid_takes_primary_group_from_passwd() -> None:
    assert resolve_user("65532", PASSWD, GROUP) == ResolvedUser(
        65532, 65532, (50,), "/home/nonroot"
    )


def test_unknown_numeric_uid_runs_with_gid_zero() -> None:
    assert resolve_user("4242", PASSWD, GROUP) == ResolvedUser(4242, 0, (), "/")


def test_name_resolves_with_supplementary_groups() -> None:
    assert resolve_user("app", PASSWD, GROUP) == ResolvedUser(1000, 1000, (50, 44), "/srv/app")


def test_explicit_group_by_name_and_number_drops_supplementary_groups() -> None:
    assert resolve_user("app:video", PASSWD, GROUP) == ResolvedUser(1000, 44, (), "/srv/app")
    assert resolve_user("123:456", PASSWD, GROUP) == ResolvedUser(123, 456, (), "/")


def test_empty_spec_is_root() -> None:
    assert resolve_user("", PASSWD, GROUP).uid == 0


@pytest.mark.parametrize(
    ("spec", "needle"),
    [("ghost", "'ghost' is not in the image's /etc/passwd"), ("app:ghosts", "'ghosts'"),
     ("app:", "empty"), ("99999999999", "out of range")],
)  # fmt: skip
def test_bad_users_are_sandbox_errors(spec: str, needle: str) -> None:
    with pytest.raises(SandboxError, match=needle):
        resolve_user(spec, PASSWD, GROUP)


def test_names_need_a_passwd_file() -> None:
    with pytest.raises(SandboxError):
        resolve_user("nonroot", None, None)


def test_resolve_in_rootfs_ignores_symlinked_passwd(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    host = tmp_path / "host-passwd"
    host.write_text(PASSWD)
    (tmp_path / "etc" / "passwd").symlink_to(host)
    with pytest.raises(SandboxError):
        resolve_user_in(tmp_path, "app")
    (tmp_path / "etc" / "passwd").unlink()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    assert resolve_user_in(tmp_path, "app").uid == 1000


def test_etc_linking_out_of_the_root_names_the_images_own_files(tmp_path: Path) -> None:
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "passwd").write_text("hostonly:x:4242:4242::/:/sbin/nologin\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "etc").symlink_to(decoy)  # absolute: means <root>/<decoy>, not the host's
    with pytest.raises(SandboxError, match="'hostonly' is not in the image's /etc/passwd"):
        resolve_user_in(root, "hostonly")
    (root / "etc").unlink()
    (root / "etc").symlink_to("/etc")  # a link to itself: a loop, no passwd
    with pytest.raises(SandboxError, match="is not in the image's"):
        resolve_user_in(root, "nonroot")
    (root / "etc").unlink()
    (root / "data").mkdir()
    (root / "data" / "passwd").write_text(PASSWD)
    (root / "etc").mkdir()
    (root / "etc" / "passwd").symlink_to("../data/passwd")  # inside the image: followed
    assert resolve_user_in(root, "app").uid == 1000
