"""Split an instruction's arguments into raw words, keeping quotes and escapes.

At parse time docker only *separates* words (``ENV a="x y" b=z`` is two pairs); quote
removal and ``$var`` expansion happen later, when the executor knows the environment (see
:mod:`.substitution`).  So the parser needs a splitter that respects quotes but leaves the
text of each word untouched, and that remembers where each word starts so that errors can
point at the right column.
"""

from __future__ import annotations

from dataclasses import dataclass

from distroless.errors import DockerfileError


@dataclass(frozen=True)
class RawWord:
    """One word as written (quotes kept) and its offset in the text it was split from."""

    text: str
    start: int


class UnterminatedQuote(DockerfileError):
    """A quote opened in an instruction's arguments is never closed."""

    def __init__(self, quote: str, offset: int) -> None:
        super().__init__(f"missing closing {quote} quote")
        self.offset = offset


def split_raw(text: str, escape: str = "\\", *, strict: bool = True) -> list[RawWord]:
    """Split ``text`` on white space outside quotes; each word keeps its quotes.

    The escape character protects the next character (including a space or a quote)
    outside single quotes.  An unclosed quote is an error when ``strict``; otherwise it
    runs to the end of the text (shell-form commands are the shell's to judge).
    """
    words: list[RawWord] = []
    current: list[str] = []
    start = -1
    quote = ""
    quote_at = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if not quote and ch.isspace():
            if start >= 0:
                words.append(RawWord("".join(current), start))
                current = []
                start = -1
            i += 1
            continue
        if start < 0:
            start = i
        current.append(ch)
        if ch == escape and quote != "'" and i + 1 < len(text):
            current.append(text[i + 1])
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in ("'", '"'):
            quote = ch
            quote_at = i
        i += 1
    if quote and strict:
        raise UnterminatedQuote(quote, quote_at)
    if start >= 0:
        words.append(RawWord("".join(current), start))
    return words
