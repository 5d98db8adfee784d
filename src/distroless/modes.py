"""File modes as people write them: octal text such as ``0755``, or chmod(1)'s symbols.

A spec's ``mode:`` and a Dockerfile's ``--chmod=`` read the same way; each caller words its
own error, so the reason travels in :class:`ModeError`.
"""

from __future__ import annotations

from dataclasses import dataclass

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


# -- symbolic modes, as chmod(1) writes them -------------------------------------------------

_SETID = 0o6000
_STICKY = 0o1000
#: what an empty "who" (``+x``, ``=r``) clears for ``=``: every bit but sticky
_ALL_BUT_STICKY = 0o6777
_READ, _WRITE, _EXEC = 0o444, 0o222, 0o111
_OTHER = 0o007
_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o0007, "a": 0o6777}
#: where each class's rwx triple sits in a mode
_SHIFT = {"u": 6, "g": 3, "o": 0}


#: one step of a symbolic mode, in order: ("-", bits), ("+", bits), ("X", bits) sets the
#: bits only for a directory or a file that had an x bit; ("copy", source class, target
#: classes, clear, set) copies one class's rwx to others
_Step = tuple[str, int] | tuple[str, str, str, bool, bool]


@dataclass(frozen=True)
class ModeChange:
    """A ``--chmod`` value: an absolute octal mode, or symbolic clauses such as
    ``u=rwX,go=rX`` that change each copied file's own mode.

    Symbolic clauses are read as BSD chmod(1) (and BuildKit, which uses a port of BSD's
    setmode) reads them with a umask of 0; ``X`` looks at the mode the file had before.
    """

    text: str
    #: the absolute mode, or None for a symbolic change
    octal: int | None
    steps: tuple[_Step, ...] = ()

    def apply(self, mode: int, *, is_dir: bool) -> int:
        """The mode a file (or directory) of mode ``mode`` gets."""
        if self.octal is not None:
            return self.octal
        before = mode & MAX_MODE
        new = before
        for step in self.steps:
            if len(step) == 2:
                op, bits = step
                if op == "-":
                    new &= ~bits
                elif op == "+" or before & _EXEC or is_dir:
                    new |= bits
                continue
            _, source, targets, clear, set_ = step
            value = (new >> _SHIFT[source]) & 0o7
            for target in targets:
                shift = _SHIFT[target]
                if clear:
                    new &= ~((0o7 if set_ else value) << shift)
                if set_:
                    new |= value << shift
        return new & MAX_MODE


def parse_mode_change(text: str) -> ModeChange:
    """``--chmod`` text as a :class:`ModeChange`; :class:`ModeError` when it is neither."""
    if text[:1].isdigit():
        return ModeChange(text, parse_octal_mode(text))
    return ModeChange(text, None, tuple(_symbolic_steps(text)))


def _symbolic_steps(text: str) -> list[_Step]:
    steps: list[_Step] = []

    def add(op: str, who: int, perm: int) -> None:
        if op == "=":
            steps.append(("-", who or _ALL_BUT_STICKY))
            op = "+"
        steps.append((op, (who & perm) if who else perm))

    def copy(source: str, who: int, op: str) -> None:
        targets = "".join(c for c in "ugo" if not who or who & _WHO[c] & 0o444)
        steps.append(("copy", source, targets, op in "-=", op in "+="))

    rest = text
    while True:  # one clause: who, then one or more op-perm runs
        who = 0
        while rest[:1] in ("u", "g", "o", "a"):
            who |= _WHO[rest[0]]
            rest = rest[1:]
        if not rest:
            raise ModeError(text, out_of_range=False)
        while True:  # one op and the permissions after it
            op, rest = rest[0], rest[1:]
            if op not in "+-=":
                raise ModeError(text, out_of_range=False)
            equal_done = False
            who &= ~_STICKY
            perm = perm_x = 0
            while True:
                c = rest[:1]
                if c == "r":
                    perm |= _READ
                elif c == "w":
                    perm |= _WRITE
                elif c == "x" or (c == "X" and op == "-"):
                    perm |= _EXEC
                elif c == "X":
                    perm_x = _EXEC
                elif c in ("s", "t"):
                    if who == 0 or who & ~_OTHER:  # o alone has no set-id or sticky bit
                        if c == "t":
                            who |= _STICKY
                        perm |= _STICKY if c == "t" else _SETID
                elif c in ("u", "g", "o"):
                    if perm:
                        add(op, who, perm)
                        perm = 0
                    equal_done = equal_done or op == "="
                    if perm_x:
                        add("X", who, perm_x)
                        perm_x = 0
                    copy(c, who, op)
                else:
                    if perm or (op == "=" and not equal_done):
                        add(op, who, perm)
                    if perm_x:
                        add("X", who, perm_x)
                    break
                rest = rest[1:]
            if not rest:
                return steps
            if rest[0] == ",":
                rest = rest[1:]
                break
