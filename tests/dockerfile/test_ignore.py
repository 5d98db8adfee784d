""".dockerignore matching with docker's semantics."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distroless.dockerfile.ignore import DockerIgnore
from distroless.errors import InputError


@pytest.mark.parametrize(
    ("pattern", "path", "excluded"),
    [
        ("**", "file", True),
        ("**", "dir/file", True),
        ("**/", "dir/file", True),
        ("**/**", "dir/file", True),
        ("**/file", "file", True),
        ("**/file", "a/b/file", True),
        ("**/file", "afile", False),
        ("dir/**", "dir/file", True),
        ("dir/**", "dir/a/b", True),
        ("dir/**", "dirx/a", False),
        ("dir/**/file", "dir/file", True),
        ("dir/**/file", "dir/a/b/file", True),
        ("dir/**/file", "dir/a/b/filex", False),
        ("a**b", "ab", True),
        ("a**b", "ax/b", True),
        ("*.go", "a.go", True),
        ("*.go", "dir/a.go", False),
        ("*/*.go", "dir/a.go", True),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[a-c]x", "bx", True),
        ("[a-c]x", "dx", False),
        ("[^a]x", "bx", True),
        ("[^a]x", "ax", False),
        ("arr[[]0].txt", "arr[0].txt", True),
        ("[a\\-c]x", "-x", True),
        ("[a\\-c]x", "bx", False),
        ("[.]x", ".x", True),
        ("[.]x", "ax", False),
        ("\\*", "*", True),
        ("\\*", "a", False),
        ("a.b", "axb", False),
        ("a+b", "a+b", True),
        ("a(b)|c", "a(b)|c", True),
        ("foo", "foo/bar/baz", True),
        ("foo", "foobar", False),
        ("foo/bar", "foo", False),
        ("/foo", "foo", True),
        ("./foo", "foo", True),
        ("foo/", "foo/x", True),
        ("foo/../bar", "bar", True),
        ("foo//bar", "foo/bar", True),
    ],
)
def test_single_pattern(pattern: str, path: str, excluded: bool) -> None:
    assert DockerIgnore.parse(pattern + "\n").matches(path) is excluded


def test_exceptions_and_last_match_wins() -> None:
    ignore = DockerIgnore.parse("*.md\n!README.md\n")
    assert ignore.matches("a.md")
    assert not ignore.matches("README.md")
    assert DockerIgnore.parse("!a\na\n").matches("a")
    assert not DockerIgnore.parse("a\n!a\n").matches("a")
    assert DockerIgnore.parse("a\n!a\na\n").matches("a")


def test_exception_inside_excluded_directory() -> None:
    ignore = DockerIgnore.parse("docs\n!docs/keep.md\n")
    assert ignore.matches("docs/other.md")
    assert not ignore.matches("docs/keep.md")
    assert ignore.matches("docs")


def test_comments_blank_lines_and_whitespace() -> None:
    ignore = DockerIgnore.parse("# comment\n\n   \n  spaced  \n !  negated\n #notcomment\n")
    assert [p.pattern for p in ignore.patterns] == ["spaced", "negated", "#notcomment"]
    assert [p.exclusion for p in ignore.patterns] == [False, True, False]
    assert ignore.matches("spaced") and ignore.matches("#notcomment")
    assert not ignore.matches("comment")


def test_bom_and_crlf() -> None:
    ignore = DockerIgnore.parse("\ufeffa\r\nb\r\n")
    assert ignore.matches("a") and ignore.matches("b")


def test_empty_file_excludes_nothing() -> None:
    assert not DockerIgnore.parse("").matches("anything")


def test_unclosed_class_is_an_error() -> None:
    with pytest.raises(InputError, match=r"unclosed '\['"):
        DockerIgnore.parse("a[b\n")


def _tree(root: Path, paths: list[str]) -> None:
    for rel in paths:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(rel)


def test_include_for_walks_context(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        [
            "Dockerfile",
            "main.go",
            "debug.log",
            "build/out.bin",
            "build/keep.txt",
            "node_modules/x/index.js",
            "src/a.log",
            "src/a.go",
        ],
    )
    ignore = DockerIgnore.parse("*.log\nbuild\n!build/keep.txt\nnode_modules\n")
    assert list(ignore.include_for(tmp_path)) == [
        "Dockerfile",
        "build/keep.txt",
        "main.go",
        "src",
        "src/a.go",
        "src/a.log",
    ]


def test_include_for_without_exceptions_prunes_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tree(tmp_path, ["keep", "skip/deep/file", "other/file"])
    scanned: list[str] = []
    real_scandir = os.scandir

    def recording_scandir(path: Path) -> Iterator[os.DirEntry[str]]:
        scanned.append(Path(path).relative_to(tmp_path).as_posix())
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", recording_scandir)
    assert list(DockerIgnore.parse("skip\n").include_for(tmp_path)) == [
        "keep",
        "other",
        "other/file",
    ]
    assert sorted(scanned) == [".", "other"]
    scanned.clear()
    list(DockerIgnore.parse("skip\n!skip/deep/file\n").include_for(tmp_path))
    assert sorted(scanned) == [".", "other", "skip", "skip/deep"]


def test_include_for_rejects_missing_context(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a directory"):
        list(DockerIgnore().include_for(tmp_path / "absent"))


def test_load_prefers_dockerfile_specific_ignore(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("a\n")
    dockerfile = tmp_path / "app.Dockerfile"
    assert DockerIgnore.load(tmp_path, dockerfile).matches("a")
    (tmp_path / "app.Dockerfile.dockerignore").write_text("b\n")
    loaded = DockerIgnore.load(tmp_path, dockerfile)
    assert loaded.matches("b") and not loaded.matches("a")
    assert DockerIgnore.load(tmp_path / "nowhere").patterns == ()


_SEGMENT = st.text(alphabet="abcxyz019._-+", min_size=1, max_size=6).filter(
    lambda s: s not in (".", "..")
)
_PATH = st.lists(_SEGMENT, min_size=1, max_size=4).map("/".join)


@given(_PATH, _SEGMENT)
def test_literal_pattern_matches_itself_and_descendants(path: str, child: str) -> None:
    ignore = DockerIgnore.parse(path + "\n")
    assert ignore.matches(path)
    assert ignore.matches(f"{path}/{child}")
    assert not ignore.matches(f"{path}x{child}")


@given(_PATH)
def test_exception_after_pattern_reincludes(path: str) -> None:
    assert not DockerIgnore.parse(f"{path}\n!{path}\n").matches(path)
    assert DockerIgnore.parse(f"!{path}\n{path}\n").matches(path)


@given(st.text(alphabet="ab*?", min_size=1, max_size=6), st.text(alphabet="ab", max_size=6))
def test_single_segment_glob_agrees_with_fnmatch(pattern: str, name: str) -> None:
    if "**" in pattern or not name:
        return
    assert DockerIgnore.parse(pattern).matches(name) == fnmatch.fnmatchcase(name, pattern)
