"""Which context paths a Dockerfile reads, for the warm path's walk (warm_record)."""

from __future__ import annotations

import pytest

from distroless.dockerfile.parser import parse
from distroless.warm_record import context_reads


@pytest.mark.parametrize(
    ("dockerfile", "reads"),
    [
        (
            "FROM scratch\nCOPY a.txt /\nCOPY dir/ /d/\nADD ./x/../y.tar /\n",
            ("a.txt", "dir", "y.tar"),
        ),
        ("FROM scratch\nCOPY src/ /s/\nCOPY src/main.go /m\n", ("src",)),
        ("FROM scratch AS b\nCOPY b.txt /\nFROM scratch\nCOPY --from=b /b.txt /\n", ("b.txt",)),
        ("FROM scratch\nCOPY --from=alpine /etc/os-release /\n", ()),
        ("FROM scratch\nCOPY <<EOF /x\nhi\nEOF\n", ()),
        ("FROM busybox\nRUN --mount=type=bind,source=go.mod,target=/m true\n", ("go.mod",)),
        ("FROM busybox\nRUN --mount=type=bind,from=b,target=/m true\n", ()),
        ("FROM busybox\nRUN --mount=type=cache,target=/c true\n", ()),
        ("FROM scratch\nCOPY . /\n", None),
        ("FROM scratch\nCOPY *.go /\n", None),
        ("FROM scratch\nARG D=src\nCOPY $D/ /\n", None),
        ("FROM busybox\nRUN --mount=type=bind,target=/ctx true\n", None),
    ],
)
def test_reads(dockerfile: str, reads: tuple[str, ...] | None) -> None:
    assert context_reads(parse(dockerfile)) == reads
