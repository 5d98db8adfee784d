"""Debian package versions, parsed and ordered exactly as dpkg does.

Choosing the highest candidate, checking ``(>= 2.36)`` constraints and letting a
``-security`` suite override the main one all hinge on this ordering, so it follows
dpkg's ``verrevcmp`` rule for rule: ``~`` sorts before everything (even the end of the
string), letters sort before other characters, and digit runs compare as numbers.
Versions that dpkg considers equal (``1.0``, ``0:1.0``, ``1.0-0``, ``1.00``) compare and
hash equal here too, while ``str()`` keeps the original spelling.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from distroless.errors import DebianError

# A dpkg version string is split into (non-digit run, digit run) pairs; each pair is
# encoded as (tuple of character weights ending in 0, integer value of the digits).
_Pair = tuple[tuple[int, ...], int]
_FILL: _Pair = ((0,), 0)
_PAIR_RE = re.compile(r"(\D*)(\d*)")
_UPSTREAM_OK = re.compile(r"^[A-Za-z0-9.+~:-]+$")
_REVISION_OK = re.compile(r"^[A-Za-z0-9.+~]+$")
_MAX_EPOCH = 2**31 - 1


def _weight(char: str) -> int:
    """dpkg's ``order()``: ``~`` lowest, then end of string, then letters, then the rest."""
    if char == "~":
        return -1
    if "A" <= char <= "Z" or "a" <= char <= "z":
        return ord(char)
    return ord(char) + 256


@functools.lru_cache(maxsize=1 << 16)
def _pairs(text: str) -> tuple[_Pair, ...]:
    pairs: list[_Pair] = []
    for letters, digits in _PAIR_RE.findall(text):
        if not letters and not digits:
            continue
        weights = (*(_weight(c) for c in letters), 0)
        pairs.append((weights, int(digits) if digits else 0))
    # Trailing empty pairs compare equal to the end of the string: drop them so that
    # equal versions have equal keys (and equal hashes).
    while pairs and pairs[-1] == _FILL:
        pairs.pop()
    return tuple(pairs)


def _compare_pairs(a: tuple[_Pair, ...], b: tuple[_Pair, ...]) -> int:
    for i in range(max(len(a), len(b))):
        left = a[i] if i < len(a) else _FILL
        right = b[i] if i < len(b) else _FILL
        if left != right:
            return -1 if left < right else 1
    return 0


def compare_strings(a: str, b: str) -> int:
    """Compare two upstream or revision parts with dpkg's ``verrevcmp``: -1, 0 or 1."""
    return _compare_pairs(_pairs(a), _pairs(b))


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A parsed ``[epoch:]upstream[-revision]`` version; ordering and equality follow dpkg."""

    epoch: int
    upstream: str
    revision: str
    text: str = field(default="", compare=False)
    # The comparison key is computed on first use: an index holds many versions that are
    # never compared.
    _cached_key: tuple[int, tuple[_Pair, ...], tuple[_Pair, ...]] | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", self._spell())

    @property
    def _key(self) -> tuple[int, tuple[_Pair, ...], tuple[_Pair, ...]]:
        key = self._cached_key
        if key is None:
            key = (self.epoch, _pairs(self.upstream), _pairs(self.revision))
            object.__setattr__(self, "_cached_key", key)
        return key

    def _spell(self) -> str:
        text = self.upstream
        if self.epoch or ":" in self.upstream:
            text = f"{self.epoch}:{text}"
        if self.revision:
            text = f"{text}-{self.revision}"
        return text

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse ``text`` with dpkg's rules; a malformed version raises :class:`DebianError`."""
        stripped = text.strip()
        if not stripped:
            raise DebianError(f"invalid version {text!r}: the version string is empty")
        if any(c.isspace() for c in stripped):
            raise DebianError(f"invalid version {text!r}: it contains whitespace")
        epoch = 0
        rest = stripped
        if ":" in stripped:
            epoch_text, rest = stripped.split(":", 1)
            if not epoch_text:
                raise DebianError(f"invalid version {text!r}: the epoch is empty")
            if not epoch_text.isascii() or not epoch_text.isdigit():
                raise DebianError(f"invalid version {text!r}: the epoch is not a number")
            epoch = int(epoch_text)
            if epoch > _MAX_EPOCH:
                raise DebianError(f"invalid version {text!r}: the epoch is too big")
            if not rest:
                raise DebianError(f"invalid version {text!r}: nothing after the colon")
        upstream, sep, revision = rest.rpartition("-")
        if not sep:
            upstream, revision = rest, ""
        elif not revision:
            raise DebianError(f"invalid version {text!r}: the revision is empty")
        if not upstream:
            raise DebianError(f"invalid version {text!r}: the upstream version is empty")
        if not _UPSTREAM_OK.match(upstream):
            raise DebianError(f"invalid version {text!r}: invalid character in the version")
        if revision and not _REVISION_OK.match(revision):
            raise DebianError(f"invalid version {text!r}: invalid character in the revision")
        return cls(epoch, upstream, revision, stripped)

    def compare(self, other: Version) -> int:
        """-1, 0 or 1 as ``dpkg --compare-versions`` would order ``self`` and ``other``."""
        if self.epoch != other.epoch:
            return -1 if self.epoch < other.epoch else 1
        return _compare_pairs(self._key[1], other._key[1]) or _compare_pairs(
            self._key[2], other._key[2]
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key == other._key

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.compare(other) < 0

    def __hash__(self) -> int:
        return hash(self._key)

    def __str__(self) -> str:
        return self.text


def compare_versions(a: str | Version, b: str | Version) -> int:
    """Compare two version strings as dpkg does: negative, zero or positive."""
    left = a if isinstance(a, Version) else Version.parse(a)
    right = b if isinstance(b, Version) else Version.parse(b)
    return left.compare(right)
