"""Control-file paragraphs (deb822): ``Packages`` indices, ``status`` and ``control`` files.

A Packages index for one architecture is around a hundred megabytes uncompressed, so
paragraphs are parsed from a stream of lines, one at a time, and errors carry the line
number.  A :class:`Paragraph` keeps field names in their original spelling and order (so
that :func:`dump` writes a ``/var/lib/dpkg/status.d/<pkg>`` entry byte for byte as dpkg
would) while lookups ignore case, as dpkg's do.

A field's value is kept raw: the text after ``Name:`` on the first line, then each
continuation line (with its leading whitespace) after a newline.  Parsing what
:func:`dump` wrote gives the same paragraph back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar, overload

from distroless.errors import DebianError

# Field names: printable US-ASCII without colon or space, not starting with '#' or '-'.
_T = TypeVar("_T")
_FIELD_NAME_RE = re.compile(r"^[!-9;-~][!-9;-~]*$")


class Paragraph(Mapping[str, str]):
    """One immutable deb822 paragraph; ``p["package"]`` and ``p["Package"]`` are the same field.

    Iteration and :meth:`items` yield field names as they were written.  ``line`` is the
    line on which the paragraph started (0 when built in code), for error messages.
    """

    __slots__ = ("_fields", "line", "source")

    def __init__(
        self,
        fields: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        *,
        line: int = 0,
        source: str = "",
    ) -> None:
        pairs = fields.items() if isinstance(fields, Mapping) else fields
        table: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            if not _FIELD_NAME_RE.match(name) or name[0] in "#-":
                raise DebianError(f"invalid deb822 field name {name!r}")
            key = name.lower()
            if key in table:
                raise DebianError(f"duplicate deb822 field {name!r}")
            table[key] = (name, value)
        self._fields = table
        self.line = line
        self.source = source

    @classmethod
    def _trusted(cls, table: dict[str, tuple[str, str]], line: int, source: str) -> Paragraph:
        # The streaming parser has already validated names and duplicates; skip the work.
        para = cls.__new__(cls)
        para._fields = table
        para.line = line
        para.source = source
        return para

    def __getitem__(self, name: str) -> str:
        try:
            return self._fields[name.lower()][1]
        except KeyError:
            raise KeyError(name) from None

    @overload
    def get(self, name: str, /) -> str | None: ...

    @overload
    def get(self, name: str, default: str, /) -> str: ...

    @overload
    def get(self, name: str, default: _T, /) -> str | _T: ...

    def get(self, name: str, default: object = None, /) -> object:
        entry = self._fields.get(name.lower())
        return default if entry is None else entry[1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Paragraph):
            return NotImplemented
        return list(self._fields.values()) == list(other._fields.values())

    def __hash__(self) -> int:
        return hash(tuple(self._fields.values()))

    def __repr__(self) -> str:
        name = self.get("Package") or self.get("Source") or "?"
        return f"<Paragraph {name} ({len(self)} fields)>"

    def where(self) -> str:
        """``file:line`` of this paragraph for messages, or an empty string."""
        if self.source and self.line:
            return f"{self.source}:{self.line}"
        return self.source

    def field_name(self, name: str) -> str:
        """The spelling ``name`` was written with in this paragraph."""
        return self._fields[name.lower()][0]

    def first_line(self, name: str, default: str = "") -> str:
        """The part of a (possibly multi-line) value on the field's own line."""
        value = self.get(name)
        return default if value is None else value.split("\n", 1)[0]

    def replace(self, **changes: str | None) -> Paragraph:
        """A copy with fields set (``None`` removes); keyword ``_`` stands for ``-``."""
        table = dict(self._fields)
        for raw, value in changes.items():
            name = raw.replace("_", "-")
            key = name.lower()
            if value is None:
                table.pop(key, None)
            else:
                table[key] = (table[key][0] if key in table else name, value)
        return Paragraph(list(table.values()), line=self.line, source=self.source)


def iter_paragraphs(
    lines: Iterable[str], source: str = "<stream>", *, allow_comments: bool = False
) -> Iterator[Paragraph]:
    """Yield each paragraph of a deb822 text stream, reading it line by line.

    ``lines`` is any iterable of text lines (an open text file works); ``source`` names it
    in errors.  Comment lines (``#`` in column 0) are only accepted when
    ``allow_comments`` is set, as in ``debian/control``; dpkg's own files never have them.
    """
    table: dict[str, tuple[str, str]] = {}
    start = 0
    key = ""
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        first = line[:1]
        if first in (" ", "\t"):
            if line.strip() == "":
                # Whitespace-only lines separate paragraphs, as in dpkg.
                if table:
                    yield Paragraph._trusted(table, start, source)
                    table = {}
                continue
            if not table:
                raise DebianError(
                    f"{source}:{number}: continuation line outside a field: {line.strip()!r}"
                )
            name, value = table[key]
            table[key] = (name, value + "\n" + line.rstrip())
            continue
        if not line:
            if table:
                yield Paragraph._trusted(table, start, source)
                table = {}
            continue
        if first == "#":
            if allow_comments:
                continue
            raise DebianError(f"{source}:{number}: comment lines are not allowed here")
        name, colon, value = line.partition(":")
        if not colon:
            raise DebianError(f"{source}:{number}: expected 'Field: value', got {line!r}")
        if not _FIELD_NAME_RE.match(name) or first == "-":
            raise DebianError(f"{source}:{number}: invalid field name {name!r}")
        key = name.lower()
        if key in table:
            raise DebianError(f"{source}:{number}: duplicate field {name!r} in one paragraph")
        if not table:
            start = number
        table[key] = (name, value.strip())
    if table:
        yield Paragraph._trusted(table, start, source)


def parse_paragraphs(
    text: str, source: str = "<text>", *, allow_comments: bool = False
) -> list[Paragraph]:
    """Every paragraph of ``text``; for small files such as a .deb's ``control``."""
    return list(iter_paragraphs(text.splitlines(), source, allow_comments=allow_comments))


def parse_paragraph(text: str, source: str = "<text>") -> Paragraph:
    """Exactly one paragraph (a ``control`` file); zero or several is an error."""
    paragraphs = parse_paragraphs(text, source)
    if len(paragraphs) != 1:
        raise DebianError(f"{source}: expected one paragraph, found {len(paragraphs)}")
    return paragraphs[0]


def dump(paragraph: Mapping[str, str]) -> str:
    """Write a paragraph back as deb822 text ending in one newline (no blank line).

    A value whose first line is empty (``Conffiles:`` followed by indented lines) is
    written with nothing after the colon, exactly as dpkg writes it.
    """
    out: list[str] = []
    for name, value in paragraph.items():
        if "\n\n" in value or value.endswith("\n"):
            raise DebianError(f"field {name!r} has an empty continuation line")
        head, newline, rest = value.partition("\n")
        if rest and not all(part[:1] in (" ", "\t") for part in rest.split("\n")):
            raise DebianError(f"field {name!r} has a continuation line without indentation")
        out.append(f"{name}: {head}" if head else f"{name}:")
        if newline:
            out.append("\n" + rest)
        out.append("\n")
    return "".join(out)


def dump_paragraphs(paragraphs: Iterable[Mapping[str, str]]) -> str:
    """Several paragraphs separated by blank lines, as in a ``Packages`` or ``status`` file."""
    return "\n".join(dump(p) for p in paragraphs)
