"""COPY/ADD flags as current BuildKit reads them: symbolic ``--chmod`` and its errors.

Good values are checked on built images; a bad value must fail the build in one line
naming ``Dockerfile:LINE``, exit non-zero and leave the store as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.modes import ModeError, parse_mode_change
from distroless.store import Store
from tests.dockerfile.executor_helpers import Built, FakeRunner, build, write_context
from tests.helpers import Cli
from tests.helpers.refusal import refused_build


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


# -- symbolic --chmod ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "before", "is_dir", "after"),
    [
        ("u=rwX,go=rX", 0o600, False, 0o644),
        ("u=rwX,go=rX", 0o700, False, 0o755),  # X: the file had an x bit
        ("u=rwX,go=rX", 0o600, True, 0o755),  # X: a directory
        ("u=rwX,go=rX", 0o4755, False, 0o755),  # u= clears setuid
        ("u=rwX,go=rX", 0o1777, True, 0o1755),  # sticky is nobody's: = keeps it
        ("+x", 0o644, False, 0o755),
        ("a-w", 0o666, False, 0o444),
        ("go=", 0o755, False, 0o700),
        ("g=u", 0o640, False, 0o660),
        ("go=u-w", 0o750, False, 0o755),
        ("=rw,+X", 0o744, False, 0o777),  # X looks at the mode before the change
        ("u-x,g+X", 0o700, False, 0o610),
        ("u+s,g+s", 0o755, False, 0o6755),
        ("o+t", 0o755, False, 0o755),  # o alone has no sticky bit
        ("+t", 0o755, True, 0o1755),
        ("u+", 0o640, False, 0o640),
        ("0640", 0o777, True, 0o640),
    ],
)
def test_mode_change_follows_bsd_chmod(text: str, before: int, is_dir: bool, after: int) -> None:
    assert oct(parse_mode_change(text).apply(before, is_dir=is_dir)) == oct(after)


@pytest.mark.parametrize("text", ["u", "z", "u+x,", ",", "u+x,,g+x", "u+z", "u+xz", "8", "0755x"])
def test_mode_change_refuses_what_chmod_refuses(text: str) -> None:
    with pytest.raises(ModeError):
        parse_mode_change(text)


def test_symbolic_chmod_applies_to_each_copied_file(store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"dir/exe": "x\n", "dir/sub/f": "f\n", "f": "f\n"})
    (ctx / "dir" / "exe").chmod(0o700)
    (ctx / "dir" / "sub").chmod(0o700)
    (ctx / "dir" / "sub" / "f").chmod(0o600)
    built = build(
        store,
        ctx,
        "FROM scratch\nCOPY --chmod=u=rwX,go=rX dir /sym/\nCOPY --chmod=+x f /plus-x\n"
        "COPY --chmod=go-rwx <<EOF /doc\nhi\nEOF\n",
    )
    modes = {name: info.mode for name, (info, _) in built.files().items()}
    assert modes["sym/exe"] == 0o755
    assert modes["sym/sub"] == 0o755
    assert modes["sym/sub/f"] == 0o644
    assert modes["plus-x"] == 0o755
    assert modes["doc"] == 0o600


def test_symbolic_chmod_applies_to_files_of_another_stage(store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"d/a": "a\n", "d/b": "b\n"})
    (ctx / "d" / "a").chmod(0o751)
    built = build(
        store,
        ctx,
        "FROM scratch AS src\nCOPY d /d/\nFROM scratch\nCOPY --from=src --chmod=o-x,g+w /d/ /e/\n",
    )
    modes = {name: info.mode for name, (info, _) in built.files().items()}
    assert modes["e/a"] == 0o770
    assert modes["e/b"] == 0o664


def test_octal_chmod_gives_created_parents_its_mode(store: Store, tmp_path: Path) -> None:
    """BuildKit's copier makes missing parents with an octal --chmod (permission bits only);
    a symbolic one leaves them 0755, and parents that exist keep their mode."""
    ctx = write_context(tmp_path / "ctx", {"f": "f\n"})
    built = build(
        store,
        ctx,
        "FROM scratch\nCOPY --chmod=750 f /made/parents/f\n"
        "COPY --chmod=4711 f /made/setuid/f\n"
        "COPY --chmod=u=rw,go= f /sym/parent/f\n"
        "COPY f /plain/parent/f\n",
    )
    modes = {name: info.mode for name, (info, _) in built.files().items()}
    assert oct(modes["made"]) == oct(0o750)
    assert oct(modes["made/parents"]) == oct(0o750)
    assert oct(modes["made/parents/f"]) == oct(0o750)
    assert oct(modes["made/setuid"]) == oct(0o711)  # existing /made is not in that layer
    assert oct(modes["made/setuid/f"]) == oct(0o4711)
    assert oct(modes["sym/parent"]) == oct(0o755)
    assert oct(modes["sym/parent/f"]) == oct(0o600)
    assert oct(modes["plain/parent"]) == oct(0o755)


def test_link_layer_makes_its_parents_afresh(store: Store, tmp_path: Path) -> None:
    """With --link the layer is copied into an empty tree, so its parents are plain (0755,
    the --chown owner) and replace the stage's on unpacking; --chmod turns linking off in
    BuildKit, and without --link the stage's parents are kept."""
    ctx = write_context(tmp_path / "ctx", {"f": "f\n", "d/x": "x\n"})
    base = "FROM scratch\nCOPY --chmod=700 --chown=5:5 d /opt/private/\n"
    steps = [
        ("COPY --link f /opt/private/linked", (0o755, 0, 0)),
        ("ADD --link f /opt/private/added", (0o755, 0, 0)),
        ("COPY --link --chown=7:8 f /opt/private/owned", (0o755, 7, 8)),
        ("COPY --link=false f /opt/private/plain", (0o700, 5, 5)),
        ("COPY f /opt/private/default", (0o700, 5, 5)),
        ("COPY --link --chmod=644 f /opt/private/chmod", (0o700, 5, 5)),
    ]
    for line, want in steps:
        built = build(store, ctx, base + line + "\n")
        top = built.layers()[-1]
        private = top["opt/private"][0]
        assert (oct(private.mode), private.uid, private.gid) == (oct(want[0]), *want[1:]), line
        assert built.files()["opt/private/x"][1] == b"x\n"


@pytest.mark.parametrize(
    ("flag", "problem"),
    [
        ("u+z", "is not a mode"),
        ("9z", "is not an octal mode"),
        ("17777", "is out of range"),
    ],
)
def test_bad_chmod_is_one_line_and_leaves_the_store(
    cli: Cli, tmp_path: Path, flag: str, problem: str
) -> None:
    ctx = write_context(tmp_path / "ctx", {"f": "f\n"})
    message = refused_build(cli, ctx, f"FROM scratch\nCOPY --chmod={flag} f /f\n", 2)
    assert f"--chmod={flag} {problem}" in message


# -- shell-form words ------------------------------------------------------------------------


def test_shell_form_words_split_at_blanks_before_quotes(store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"a b.txt": "ab\n", "c.txt": "c\n"})
    built = build(store, ctx, 'FROM scratch\nCOPY ["a b.txt", "/json"]\nCOPY "c.txt" \'/quoted\'\n')
    files = built.files()
    assert files["json"][1] == b"ab\n"
    assert files["quoted"][1] == b"c\n"  # quotes inside a word are removed


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (
            'COPY "a b.txt" /x',
            """COPY '"a': unexpected end of statement while looking for matching double-quote""",
        ),
        (
            "ADD 'a b.txt' /x",
            'ADD "\'a": unexpected end of statement while looking for matching single-quote',
        ),
        ('COPY a.txt "/x y"', """COPY '"/x': unexpected end"""),
    ],
)
def test_a_quoted_blank_in_shell_form_is_one_line(
    cli: Cli, tmp_path: Path, line: str, problem: str
) -> None:
    ctx = write_context(tmp_path / "ctx", {"a b.txt": "ab\n", "a.txt": "a\n"})
    message = refused_build(cli, ctx, f"FROM scratch\n{line}\n", 2)
    assert problem in message


# -- ADD --checksum ------------------------------------------------------------------------------

_PIN = "--checksum=sha256:" + "0" * 64


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (f"ADD {_PIN} f /f", "needs an http(s) URL source, not 'f'"),
        (f"ADD {_PIN} f g /d/", "takes exactly one source"),
        (f"ADD {_PIN} http://127.0.0.1:9/a f /d/", "takes exactly one source"),
        (f"ADD {_PIN} <<EOF /d/\nx\nEOF", "takes exactly one source"),
    ],
)
def test_a_checksum_on_what_is_not_fetched_is_refused(
    cli: Cli, tmp_path: Path, line: str, problem: str
) -> None:
    ctx = write_context(tmp_path / "ctx", {"f": "f\n", "g": "g\n"})
    message = refused_build(cli, ctx, f"FROM scratch\n{line}\n", 2)
    assert f"ADD --checksum {problem}" in message


# -- --exclude -------------------------------------------------------------------------------

EXCLUDE_CONTEXT = {
    "top.txt": "t\n",
    "keep.bin": "k\n",
    "sub/s.txt": "s\n",
    "sub/s.md": "m\n",
    "sub/deep/d.txt": "d\n",
    "skip/keep": "kept\n",
    "skip/other": "o\n",
}


def _names(built: Built, prefix: str) -> set[str]:
    files = built.files()
    return {n.removeprefix(prefix) for n in files if n.startswith(prefix) and n != prefix}


def test_exclude_patterns_match_below_each_source(store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", EXCLUDE_CONTEXT)
    built = build(
        store,
        ctx,
        "FROM scratch\n"
        "COPY --exclude=*.txt --exclude=sub/*.md --exclude=Dockerfile . /a/\n"
        "ADD --exclude=**/*.txt --exclude=skip --exclude=!skip/keep --exclude=Dockerfile . /b/\n"
        "COPY --exclude=top.txt top.txt /named/\n",
    )
    assert _names(built, "a/") == {
        "keep.bin", "sub", "sub/s.txt", "sub/deep", "sub/deep/d.txt",
        "skip", "skip/keep", "skip/other",
    }  # fmt: skip
    assert _names(built, "b/") == {"keep.bin", "sub", "sub/s.md", "sub/deep", "skip", "skip/keep"}
    # a source itself is never matched, only what is below it (BuildKit's copier)
    assert _names(built, "named/") == {"top.txt"}


def test_exclude_applies_to_another_stage_and_is_in_the_cache_key(
    store: Store, tmp_path: Path
) -> None:
    ctx = write_context(tmp_path / "ctx", EXCLUDE_CONTEXT)
    stage = "FROM scratch AS src\nCOPY . /src/\nFROM scratch\n"
    built = build(
        store, ctx, stage + "COPY --from=src --exclude=sub --exclude=!sub/deep /src /c/\n"
    )
    assert {n for n in _names(built, "c/") if n.startswith("sub")} == {
        "sub", "sub/deep", "sub/deep/d.txt"
    }  # fmt: skip
    other = build(store, ctx, stage + "COPY --from=src --exclude=sub/deep /src /c/\n")
    assert "sub/s.md" in _names(other, "c/") and "sub/deep" not in _names(other, "c/")


def test_a_bad_exclude_pattern_is_one_line(cli: Cli, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"f": "f\n"})
    message = refused_build(cli, ctx, "FROM scratch\nCOPY --exclude=[ab f /f\n", 2)
    assert "--exclude: pattern '[ab' has an unclosed '['" in message


# -- a directory source's destination --------------------------------------------------------


def test_a_directory_source_never_gives_its_own_metadata_to_the_destination(
    store: Store, tmp_path: Path
) -> None:
    ctx = write_context(tmp_path / "ctx", {"d/f": "f\n"})
    (ctx / "d").chmod(0o700)
    built = build(
        store,
        ctx,
        "FROM scratch AS src\nCOPY d /out/\nRUN true\n"
        "FROM scratch\n"
        "COPY d /made/\n"  # missing: 0755, root's
        "COPY --chown=7:8 d /owned\n"  # missing, no slash: the --chown owner
        "COPY --chmod=0710 d /octal/\n"  # an octal --chmod is the made mode
        "COPY --chmod=u+w d /symbolic/\n"  # a symbolic one is not
        "COPY --chmod=1777 d /t/\n"
        "COPY --from=src /out /t/\n"  # existing: keeps its 1777
        "COPY --from=src /out /from-stage/\n",
        runner=FakeRunner(),
    )
    files = built.files()
    meta = {n: (oct(files[n][0].mode), files[n][0].uid, files[n][0].gid) for n in files}
    assert meta["made"] == ("0o755", 0, 0)
    assert meta["owned"] == ("0o755", 7, 8)
    assert meta["octal"] == ("0o710", 0, 0)
    assert meta["symbolic"] == ("0o755", 0, 0)
    assert meta["t"] == ("0o1777", 0, 0)
    assert meta["from-stage"] == ("0o755", 0, 0)
    assert meta["from-stage/f"][0] == oct((ctx / "d" / "f").stat().st_mode & 0o7777)


# -- --parents -------------------------------------------------------------------------------

PARENTS_CONTEXT = {
    "x/a.txt": "xa\n",
    "x/deep/d1.txt": "d1\n",
    "x/deep/d2.md": "d2\n",
    "x/deep/ignored.txt": "no\n",
    "y/a.txt": "ya\n",
    ".dockerignore": "x/deep/ignored.txt\n",
}


def test_parents_keeps_the_sources_parent_directories(store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", PARENTS_CONTEXT)
    (ctx / "x").chmod(0o750)
    built = build(
        store,
        ctx,
        "FROM scratch\n"
        "COPY --parents x/a.txt y/a.txt /p/\n"
        "COPY --parents ./x/./deep/*.txt /pivot/\n"  # a /./ ends what is not kept
        "COPY --parents */a.txt /glob/\n"
        "COPY --parents x/deep /whole\n"  # a directory: all of it, under its parents
        "COPY --parents nothing/*.txt /empty/\n",  # a wildcard may match nothing
    )
    files = built.files()
    assert _names(built, "p/") == {"x", "x/a.txt", "y", "y/a.txt"}
    assert oct(files["p"][0].mode) == "0o755"
    assert oct(files["p/x"][0].mode) == "0o750"  # a kept parent has the source's metadata
    assert _names(built, "pivot/") == {"deep", "deep/d1.txt"}
    assert _names(built, "glob/") == {"x", "x/a.txt", "y", "y/a.txt"}
    assert _names(built, "whole/") == {"x", "x/deep", "x/deep/d1.txt", "x/deep/d2.md"}
    assert _names(built, "empty/") == set()
    assert files["pivot/deep/d1.txt"][1] == b"d1\n"


def test_parents_from_another_stage(store: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", PARENTS_CONTEXT)
    built = build(
        store,
        ctx,
        "FROM scratch AS src\nCOPY . /src/\nFROM scratch\n"
        "COPY --from=src --parents /src/./x/deep/*.md /out/\n",
    )
    assert _names(built, "out/") == {"x", "x/deep", "x/deep/d2.md"}


def test_parents_of_a_missing_path_is_one_line(cli: Cli, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", {"x/a.txt": "a\n"})
    message = refused_build(cli, ctx, "FROM scratch\nCOPY --parents x/missing.txt /p/\n", 2)
    assert "x/missing.txt" in message
