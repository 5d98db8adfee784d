"""Resolving onto a base: what the base holds satisfies, management packages stay out."""

from __future__ import annotations

import pytest

from distroless.debian.management import DEFAULT_MANAGEMENT, management_list
from distroless.debian.resolver import Package, PackageIndex, resolve_onto
from distroless.errors import DebianError
from tests.debian.test_resolver import para


def _index() -> PackageIndex:
    return PackageIndex.from_paragraphs(
        "amd64",
        [
            para("libc6", "2.41-12"),
            para("python3.13-minimal", "3.13.5-2", Depends="libc6 (>= 2.38)"),
            para("python3.13-minimal", "3.13.7-1", Depends="libc6 (>= 2.38)"),
            para("python3.13", "3.13.5-2", Depends="python3.13-minimal (= 3.13.5-2)"),
            para("python3.13", "3.13.7-1", Depends="python3.13-minimal (= 3.13.7-1)"),
            para(
                "python3-minimal",
                "3.13.5-1",
                Pre_Depends="python3.13-minimal (>= 3.13.5-1~)",
                Depends="dpkg (>= 1.13.20)",
            ),
            para(
                "python3",
                "3.13.5-1",
                Pre_Depends="python3-minimal (= 3.13.5-1)",
                Depends="python3.13 (>= 3.13.5-1~)",
            ),
            para("python3-humanize", "4.12.1-1", "all", Depends="python3:any"),
            para("dpkg", "1.22.22", Depends="tar (>= 1.28-1)"),
            para("tar", "1.35"),
            para("app", "1", Depends="debconf (>= 0.5) | debconf-2.0, libc6"),
            para("debconf", "1.5.91", "all", Provides="debconf-2.0"),
            para("cdebconf", "0.275", Provides="debconf-2.0"),
            para("needs-new-libc", "1", Depends="libc6 (>= 2.99)"),
        ],
    )


def _base(index: PackageIndex) -> list[Package]:
    """A python3 base as the bases hold it: python3.13-minimal at the older version."""
    return [index.candidates("libc6")[0], index.candidates("python3.13-minimal")[-1]]


def test_only_what_the_base_lacks_is_added() -> None:
    index = _index()
    found = resolve_onto(
        index, ["python3-humanize"], installed=_base(index), management=DEFAULT_MANAGEMENT
    )
    assert [p.name for p in found.packages] == [
        "python3-minimal",
        "python3.13",
        "python3",
        "python3-humanize",
    ]
    # python3.13 3.13.7-1 would need a second python3.13-minimal: the one the base fits wins
    assert {p.name: str(p.version) for p in found.packages}["python3.13"] == "3.13.5-2"


def test_management_dependencies_are_recorded_not_added() -> None:
    index = _index()
    found = resolve_onto(
        index, ["python3-humanize"], installed=_base(index), management=DEFAULT_MANAGEMENT
    )
    assert "dpkg" not in [p.name for p in found.packages]
    assert [str(u) for u in found.unsatisfied] == ["python3-minimal -> dpkg (>= 1.13.20)"]


def test_an_alternative_on_a_virtual_management_name_is_left_out() -> None:
    found = resolve_onto(_index(), ["app"], management=DEFAULT_MANAGEMENT)
    assert [p.name for p in found.packages] == ["libc6", "app"]
    assert [u.relation for u in found.unsatisfied] == ["debconf (>= 0.5) | debconf-2.0"]


def test_naming_a_management_package_still_adds_it_but_not_its_own_tools() -> None:
    found = resolve_onto(_index(), ["dpkg"], management=DEFAULT_MANAGEMENT)
    assert [p.name for p in found.packages] == ["dpkg"]
    assert [str(u) for u in found.unsatisfied] == ["dpkg -> tar (>= 1.28-1)"]


def test_an_empty_management_list_follows_everything() -> None:
    found = resolve_onto(_index(), ["dpkg"], management=management_list([]))
    assert [p.name for p in found.packages] == ["tar", "dpkg"]
    assert found.unsatisfied == ()


def test_a_request_the_base_satisfies_adds_nothing() -> None:
    index = _index()
    found = resolve_onto(index, ["libc6"], installed=_base(index))
    assert found.packages == ()
    assert found.present == ("libc6",)


def test_a_version_the_base_lacks_is_one_error_naming_both_versions() -> None:
    index = _index()
    with pytest.raises(DebianError) as caught:
        resolve_onto(index, ["needs-new-libc"], installed=_base(index))
    message = str(caught.value)
    assert "\n" not in message
    assert "libc6 (>= 2.99)" in message and "the base has libc6 2.41-12" in message


def test_a_pinned_request_against_the_base_version_fails() -> None:
    index = _index()
    with pytest.raises(DebianError, match=r"python3.13-minimal \(= 3.13.7-1\).*base has "
                       r"python3.13-minimal 3.13.5-2"):  # fmt: skip
        resolve_onto(index, ["python3.13-minimal (= 3.13.7-1)"], installed=_base(index))


def test_exact_lists_skip_what_the_base_holds() -> None:
    index = _index()
    found = resolve_onto(index, ["libc6", "tar"], installed=_base(index), resolve=False)
    assert [p.name for p in found.packages] == ["tar"]


def test_default_marker_expands_in_a_spec_list() -> None:
    assert management_list(["default", "mytool"]) == (*DEFAULT_MANAGEMENT, "mytool")
    assert management_list(None) == DEFAULT_MANAGEMENT
