"""The examples that end every command's ``--help``.

They are the quickest way to learn a command, so each one's help closes with two or
three real invocations; ``\\b`` keeps click from re-wrapping them into one paragraph.
"""

from __future__ import annotations


def examples(*lines: str) -> str:
    """An ``Examples:`` epilog of ``lines``, one command a line, as click prints it."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines) + "\n"
