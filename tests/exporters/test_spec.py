"""``--output`` values as buildx reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.errors import UsageError
from distroless.exporters.spec import OutputSpec, check_destinations, parse_output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("out", OutputSpec("local", "out")),
        ("-", OutputSpec("tar", "-")),
        ("type=local,dest=d", OutputSpec("local", "d")),
        ("TYPE=Tar,DEST=f.tar", OutputSpec("tar", "f.tar")),
        ("type=tar,dest=-", OutputSpec("tar", "-")),
        ("type=oci,dest=o.tar,name=a:1", OutputSpec("oci", "o.tar", ("a:1",))),
        ('type=docker,dest=d.tar,"name=a:1,b:2"', OutputSpec("docker", "d.tar", ("a:1", "b:2"))),
        ('type=local,"dest=a,b"', OutputSpec("local", "a,b")),
        ("type=registry", OutputSpec("registry", "", push=True)),
        (
            'type=registry,"name=h:5000/a:1,h:5000/b"',
            OutputSpec("registry", "", ("h:5000/a:1", "h:5000/b"), push=True),
        ),
        ("type=image,push=true,name=h/a:1", OutputSpec("image", "", ("h/a:1",), push=True)),
        ("type=image", OutputSpec("image", "")),
        ("type=registry,push=false", OutputSpec("registry", "")),
    ],
)
def test_buildx_syntax(text: str, expected: OutputSpec) -> None:
    assert parse_output(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("type=s3,dest=x", "unknown type 's3'"),
        ("type=registry,dest=x", "takes no dest="),
        ("type=image,push=maybe", "push= is true or false"),
        ("type=image,name=a:1", "name= without push=true"),
        ("type=local", "needs dest="),
        ("type=tar,dest=", "needs dest="),
        ("dest=x", "missing type="),
        ("type=local,dest=-", "not stdout"),
        ("type=tar,dest=x,name=a", "takes no name="),
        ("type=oci,dest=x,compression=zstd", "takes no compression="),
        ("type=tar,dest=x,dest=y", "dest given twice"),
        ("type=tar,dest", "is not key=value"),
        ("", "give type=TYPE"),
    ],
)
def test_bad_values_are_one_line_usage_errors(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_output(text)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_destinations_checked_before_the_build(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="only one --output can write to stdout"):
        check_destinations((OutputSpec("tar", "-"), OutputSpec("oci", "-")))
    with pytest.raises(UsageError, match="is a directory"):
        check_destinations((OutputSpec("oci", str(tmp_path)),))
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="is not a directory"):
        check_destinations((OutputSpec("local", str(tmp_path / "file")),))
