"""Who the image's process is, and what the kernel lets that user do with a file.

A program that exists can still fail to start: ``nonroot`` cannot execute a file mode
``0700`` owned by root, nor enter a directory without search permission, nor read a
library mode ``0600``.  The user comes from the config's ``User`` and the image's own
``/etc/passwd`` and ``/etc/group``, resolved by the rules ``distroless run`` uses
(:func:`distroless.runtime.users.resolve_user`), so names mean what the image says.

Root in a container keeps ``CAP_DAC_OVERRIDE`` (docker's default set, and ``run``'s):
it may read and search anything and execute any regular file with at least one execute
bit.  Any other user has no capabilities and gets exactly the mode bits: the owner's when
the uid matches, else the group's when the file's group is one of the user's, else the
others'.
"""

from __future__ import annotations

from dataclasses import dataclass

from distroless.errors import DistrolessError
from distroless.runtime.users import MAX_ACCOUNT_FILE, resolve_user
from distroless.verify.fsview import FileSystemView, Node

READ = 4
WRITE = 2
EXECUTE = 1


@dataclass(frozen=True)
class Identity:
    """The credentials of the container's process."""

    uid: int
    gid: int
    groups: frozenset[int]

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    def describe(self) -> str:
        return f"uid {self.uid}, gid {self.gid}"

    def may(self, node: Node, want: int) -> bool:
        """Whether the kernel grants ``want`` (``READ``, ``EXECUTE``, ...) on ``node``."""
        if self.is_root:
            if want & EXECUTE and not node.is_dir:
                return bool(node.mode & 0o111)
            return True
        if node.uid == self.uid:
            bits = (node.mode >> 6) & 7
        elif node.gid in self.groups:
            bits = (node.mode >> 3) & 7
        else:
            bits = node.mode & 7
        return bits & want == want


def _account_file(fs: FileSystemView, path: str) -> str | None:
    node = fs.lookup(path)
    if node is None or not node.is_file or node.size > MAX_ACCOUNT_FILE:
        return None
    return fs.read_text(path, limit=MAX_ACCOUNT_FILE)


def image_identity(fs: FileSystemView, user: str) -> Identity | str:
    """The process credentials for config ``User`` ``user``, or why there are none."""
    try:
        resolved = resolve_user(
            user, _account_file(fs, "/etc/passwd"), _account_file(fs, "/etc/group")
        )
    except DistrolessError as exc:
        return exc.message
    groups = frozenset((resolved.gid, *resolved.additional_gids))
    return Identity(resolved.uid, resolved.gid, groups)
