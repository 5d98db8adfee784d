"""File modes as people write them: octal text such as ``0755``.

A spec's ``mode:`` and a Dockerfile's ``--chmod=`` read the same way; each caller words its
own error, so the reason travels in :class:`ModeError`.
"""

from __future__ import annotations

#: The largest mode a file can have: permission bits plus setuid, setgid and sticky.
MAX_MODE = 0o7777


class ModeError(ValueError):
    """Text that is no file mode; ``out_of_range`` tells a number too large from no number."""

    def __init__(self, text: str, *, out_of_range: bool) -> None:
        super().__init__(text)
        self.out_of_range = out_of_range


def parse_octal_mode(text: str) -> int:
    """The mode ``text`` writes in octal; :class:`ModeError` when it writes none."""
    try:
        mode = int(text, 8)
    except ValueError:
        raise ModeError(text, out_of_range=False) from None
    if not 0 <= mode <= MAX_MODE:
        raise ModeError(text, out_of_range=True)
    return mode
