"""Parser behaviour beyond the corpus: exact fields, positions, accessors, files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distroless.dockerfile import (
    Add,
    Arg,
    BindMount,
    CacheMount,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    From,
    Healthcheck,
    KeyValue,
    Label,
    Onbuild,
    Run,
    expand,
    parse,
    parse_file,
)
from distroless.errors import DockerfileError, InputError

CLASSIC = """\
FROM golang:1.17 AS builder
WORKDIR /app
COPY main.go .
RUN go build -o myapp .
FROM gcr.io/distroless/base
COPY --from=builder /app/myapp /myapp
CMD ["/myapp"]
"""


def test_classic_multistage_example() -> None:
    df = parse(CLASSIC)
    assert [s.name for s in df.stages] == ["builder", None]
    assert [s.base for s in df.stages] == ["golang:1.17", "gcr.io/distroless/base"]
    builder, final = df.stages
    assert [i.keyword for i in builder.instructions] == ["WORKDIR", "COPY", "RUN"]
    copy = final.instructions[0]
    assert isinstance(copy, Copy)
    assert (copy.from_, copy.sources, copy.dest, copy.line) == (
        "builder",
        ("/app/myapp",),
        "/myapp",
        6,
    )
    cmd = final.instructions[1]
    assert isinstance(cmd, Cmd) and cmd.command == ("/myapp",)
    assert df.stage("BUILDER") is builder and df.stage("1") is final and df.stage("x") is None


def test_instructions_iterates_in_file_order() -> None:
    df = parse("ARG A\nFROM x\nRUN a\nFROM y\nRUN b\n")
    assert [(i.keyword, i.line) for i in df.instructions()] == [
        ("ARG", 1),
        ("FROM", 2),
        ("RUN", 3),
        ("FROM", 4),
        ("RUN", 5),
    ]


def test_continuation_keeps_original_and_line_span() -> None:
    df = parse("FROM x\nRUN a \\\n  # note\n\n  b \\\n  c\nRUN d\n")
    first, second = df.stages[0].instructions
    assert isinstance(first, Run)
    assert first.command == "a   b   c"
    assert (first.line, first.end_line) == (2, 6)
    assert first.original == "RUN a   b   c"
    assert second.line == 7


def test_error_column_points_into_continued_line() -> None:
    text = "FROM x\nCOPY a \\\n     b \\\n     --chown=1 c\n"
    # --chown after a source is not a flag: it is a source word, so this parses.
    copy = parse(text).stages[0].instructions[0]
    assert isinstance(copy, Copy) and copy.sources == ("a", "b", "--chown=1")
    with pytest.raises(DockerfileError, match=r"^Dockerfile:3:6: unknown flag --bogus"):
        parse("FROM x\nCOPY \\\n     --bogus=1 a b\n")


def test_error_uses_the_given_file_name() -> None:
    with pytest.raises(DockerfileError, match=r"^build/Dockerfile\.dev:2:1: unknown instruction"):
        parse("FROM x\nBOGUS y\n", "build/Dockerfile.dev")


def test_escape_directive_backtick_changes_continuation_and_quoting() -> None:
    df = parse('# escape=`\nFROM x\nRUN echo C:\\path `\n  done\nENV P=C:\\dir a=`"q\n')
    assert df.directives.escape == "`"
    run, env = df.stages[0].instructions
    assert isinstance(run, Run) and run.command == "echo C:\\path   done"
    assert isinstance(env, Env)
    assert [(p.key, p.value) for p in env.pairs] == [("P", "C:\\dir"), ("a", '`"q')]


def test_backslash_is_literal_line_end_under_backtick_escape() -> None:
    df = parse("# escape=`\nFROM x\nCOPY a c:\\\nRUN b\n")
    copy, run = df.stages[0].instructions
    assert isinstance(copy, Copy) and copy.dest == "c:\\"
    assert isinstance(run, Run) and run.line == 4


def test_directives_are_case_insensitive_and_whitespace_tolerant() -> None:
    df = parse("#\tSyNtAx = docker/dockerfile:1\n# ESCAPE=`\nFROM x\n")
    assert df.directives.syntax == "docker/dockerfile:1"
    assert df.directives.escape == "`"


def test_directive_after_blank_line_is_a_comment() -> None:
    df = parse("\n# escape=`\nFROM x\n")
    assert df.directives.escape == "\\"


def test_heredoc_after_continuation_and_line_numbers() -> None:
    df = parse("FROM x\nRUN --network=none \\\n  cat <<EOF\nbody $X\nEOF\nRUN next\n")
    run, following = df.stages[0].instructions
    assert isinstance(run, Run)
    assert run.command == "cat <<EOF" and run.network == "none"
    assert run.heredocs[0].content == "body $X\n" and run.heredocs[0].expand
    assert (run.line, run.end_line) == (2, 5)
    assert following.line == 6


def test_heredoc_terminator_must_match_exactly() -> None:
    df = parse("FROM x\nRUN <<EOF\n EOF\nEOF \nEOF\n")
    run = df.stages[0].instructions[0]
    assert isinstance(run, Run)
    assert run.heredocs[0].content == " EOF\nEOF \n"


def test_heredoc_chomp_strips_tabs_not_spaces() -> None:
    df = parse("FROM x\nCOPY <<-EOT /f\n\t\tkeep  spaces\n  two\n\tEOT\n")
    copy = df.stages[0].instructions[0]
    assert isinstance(copy, Copy)
    assert copy.heredocs[0].content == "keep  spaces\n  two\n"
    assert copy.sources == () and copy.dest == "/f"


def test_heredoc_partially_quoted_name_disables_expansion() -> None:
    df = parse('FROM x\nRUN cat <<E"O"F\n$HOME\nEOF\n')
    run = df.stages[0].instructions[0]
    assert isinstance(run, Run)
    assert run.heredocs[0].name == "EOF" and not run.heredocs[0].expand


def test_heredoc_not_recognised_in_exec_form_or_other_instructions() -> None:
    df = parse('FROM x\nRUN ["cat", "<<EOF"]\nENV A=<<EOF\n')
    run, env = df.stages[0].instructions
    assert isinstance(run, Run) and run.heredocs == ()
    assert isinstance(env, Env) and env.pairs[0].value == "<<EOF"


def test_here_string_is_not_a_heredoc() -> None:
    run = parse("FROM x\nRUN cat <<<word\n").stages[0].instructions[0]
    assert isinstance(run, Run) and run.heredocs == ()


def test_add_with_heredoc_and_regular_source() -> None:
    add = parse("FROM x\nADD a.txt <<b.txt /dst/\nB\nb.txt\n").stages[0].instructions[0]
    assert isinstance(add, Add)
    assert add.sources == ("a.txt",)
    assert [h.name for h in add.heredocs] == ["b.txt"]


def test_flag_accessors() -> None:
    df = parse(
        "FROM --platform=linux/arm64 x\n"
        "COPY --link --parents=false --exclude=a --exclude=b --chmod=0644 --chown=1:2 s /d\n"
        "ADD --checksum=sha256:00 --keep-git-dir u /d\n"
        "RUN --mount=type=cache,target=/c,sharing=locked --mount=from=b,target=/b true\n"
    )
    stage = df.stages[0]
    assert isinstance(stage.from_, From) and stage.platform == "linux/arm64"
    copy, add, run = stage.instructions
    assert isinstance(copy, Copy) and isinstance(add, Add) and isinstance(run, Run)
    assert copy.link and not copy.parents
    assert copy.excludes == ("a", "b")
    assert (copy.chmod, copy.chown, copy.from_) == ("0644", "1:2", None)
    assert add.checksum == "sha256:00" and add.keep_git_dir
    cache, bind = run.mounts
    assert cache == CacheMount(target="/c")
    assert bind == BindMount(target="/b", source_stage="b")


def test_env_and_label_keep_raw_values() -> None:
    df = parse('FROM x\nENV A="$B c" D=e\nLABEL "k 1"="v 1" k2=v\\ 2\n')
    env, label = df.stages[0].instructions
    assert isinstance(env, Env) and isinstance(label, Label)
    assert [(p.key, p.value) for p in env.pairs] == [("A", '"$B c"'), ("D", "e")]
    assert [(p.key, p.value) for p in label.pairs] == [('"k 1"', '"v 1"'), ("k2", "v\\ 2")]


def test_global_args_and_stage_args() -> None:
    df = parse("ARG A=1 B\nFROM x\nARG A\n")
    (global_arg,) = df.global_args
    assert isinstance(global_arg, Arg)
    assert [(a.name, a.default) for a in global_arg.args] == [("A", "1"), ("B", None)]
    stage_arg = df.stages[0].instructions[0]
    assert isinstance(stage_arg, Arg) and stage_arg.args[0].default is None


def test_healthcheck_durations_in_nanoseconds() -> None:
    hc = (
        parse("FROM x\nHEALTHCHECK --interval=1h2m3.5s --timeout=0 CMD true\n")
        .stages[0]
        .instructions[0]
    )
    assert isinstance(hc, Healthcheck)
    assert hc.interval == (3600 + 120 + 3.5) * 1_000_000_000
    assert hc.timeout == 0 and hc.command == "true" and hc.retries is None


def test_healthcheck_rejects_sub_millisecond_interval() -> None:
    with pytest.raises(
        DockerfileError, match=r"^Dockerfile:2:13: --interval must be 0 or at least 1ms"
    ):
        parse("FROM x\nHEALTHCHECK --interval=10us CMD true\n")


def test_onbuild_keeps_expression_and_validates_inner_flags() -> None:
    onbuild = parse("FROM x\nONBUILD COPY --from=a b c\n").stages[0].instructions[0]
    assert isinstance(onbuild, Onbuild) and onbuild.expression == "COPY --from=a b c"
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2:13: unknown flag --bad for RUN"):
        parse("FROM x\nONBUILD RUN --bad=1 y\n")


def test_stage_names_are_lowercased() -> None:
    df = parse("FROM x AS MixedCase\n")
    assert df.stages[0].name == "mixedcase"


def test_json_with_backslashes_and_unicode() -> None:
    cmd = parse('FROM x\nCMD ["a\\\\b", "\\u00e9"]\n').stages[0].instructions[0]
    assert isinstance(cmd, Cmd) and cmd.command == ("a\\b", "é")


def test_parse_file_reads_and_names_file(tmp_path: Path) -> None:
    path = tmp_path / "Containerfile"
    path.write_text("FROM x\nRUNX\n")
    with pytest.raises(DockerfileError, match=rf"^{path}:2:1: "):
        parse_file(path)
    path.write_text("FROM x\n")
    assert parse_file(path).filename == str(path)


def test_parse_file_missing_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read Dockerfile"):
        parse_file(tmp_path / "absent")


def test_add_unpack_flag() -> None:
    df = parse("FROM x\nADD --unpack=false a.tar /d\nADD b.tar /d\n")
    first, second = df.stages[0].instructions
    assert isinstance(first, Add) and first.unpack is False
    assert isinstance(second, Add) and second.unpack is None


def _double_quote(value: str, escape: str) -> str:
    for ch in (escape, '"', "$"):
        value = value.replace(ch, escape + ch) if ch != escape else value.replace(ch, ch * 2)
    return f'"{value}"'


_LINE_TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs", "Zl", "Zp", "Cc"]), max_size=30
)


@given(_LINE_TEXT, st.sampled_from(["\\", "`"]))
def test_env_value_survives_parse_and_expand(value: str, escape: str) -> None:
    text = f"# escape={escape}\nFROM x\nENV K={_double_quote(value, escape)} Z=1\n"
    env = parse(text).stages[0].instructions[0]
    assert isinstance(env, Env)
    assert expand(env.pairs[0].value, {}, escape) == value
    assert env.pairs[1] == KeyValue("Z", "1")


_NOISE = st.text(alphabet="FROMRUNCOPYENVARG x=-\\`\"'$<>[]{}#\t\n:,", max_size=80)


@given(_NOISE)
def test_arbitrary_input_fails_only_with_located_dockerfile_error(noise: str) -> None:
    for text in (noise, "FROM x\n" + noise, "FROM x\nRUN " + noise):
        try:
            parse(text)
        except DockerfileError as exc:
            assert re.match(r"^Dockerfile:\d+:\d+: ", str(exc)), str(exc)


def test_flag_values_lose_quotes_and_backslash_escapes() -> None:
    copy = parse('FROM x\nCOPY --chown="a b" --chmod=\\"7 s /d\n').stages[0].instructions[0]
    assert isinstance(copy, Copy)
    assert (copy.chown, copy.chmod) == ("a b", '"7')


# -- edges where BuildKit's parser was checked directly ---------------------------------


def test_a_lone_surrogate_in_json_becomes_the_replacement_character() -> None:
    stage = parse('FROM scratch\nCMD ["\\ud800"]\nENTRYPOINT ["\\ud83d\\ude00", "\\udfff-x"]\n')
    cmd, entrypoint = stage.stages[0].instructions
    assert isinstance(cmd, Cmd) and cmd.command == ("\ufffd",)
    assert isinstance(entrypoint, Entrypoint) and entrypoint.command == ("\U0001f600", "\ufffd-x")


def test_blanks_before_an_escape_directive_do_not_stop_it() -> None:
    parsed = parse("   # escape=`\nFROM scratch\nRUN echo one `\n    two\n")
    run = parsed.stages[0].instructions[0]
    assert isinstance(run, Run) and run.command == "echo one     two"


def test_a_blank_after_the_dash_of_a_heredoc_names_no_document() -> None:
    with pytest.raises(DockerfileError, match=r"^Dockerfile:3:1: unknown instruction 'echo'"):
        parse("FROM scratch\nRUN <<- EOF\necho body\nEOF\n")
    run = parse("FROM scratch\nRUN << EOF\necho body\nEOF\n").stages[0].instructions[0]
    assert isinstance(run, Run) and [h.name for h in run.heredocs] == ["EOF"]


def test_heredoc_bodies_keep_the_carriage_returns_of_a_crlf_file(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_bytes(b"FROM scratch\r\nCOPY <<EOF /f\r\nfirst\r\nsecond\r\nEOF\r\n")
    copy = parse_file(dockerfile).stages[0].instructions[0]
    assert isinstance(copy, Copy) and copy.heredocs[0].content == "first\r\nsecond\r\n"


def test_a_line_longer_than_buildkits_scanner_is_refused() -> None:
    parse("FROM scratch\nLABEL a=" + "x" * (65535 - 8) + "\n")
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2:1: dockerfile line greater than"):
        parse("FROM scratch\nLABEL a=" + "x" * (65536 - 8) + "\n")


def test_a_repeated_stage_name_is_a_warning_and_the_later_stage_takes_it() -> None:
    parsed = parse("FROM a AS x\nFROM b AS X\nFROM x\n")
    assert parsed.warnings == (
        "Dockerfile:2: stage name 'x' is also used on line 1; this later stage takes the name",
    )
    later = parsed.stage("x")
    assert later is not None and later.index == 1


def test_a_line_ending_in_an_escaped_escape_does_not_continue() -> None:
    parsed = parse('FROM a\nENV C trailing\\\\backslash\\\\\nLABEL l=label\\\\\nRUN echo "$C"\n')
    env, label, run = parsed.stages[0].instructions
    assert isinstance(env, Env) and env.pairs[0].value == "trailing\\\\backslash\\\\"
    assert isinstance(label, Label) and label.pairs[0].value == "label\\\\"
    assert isinstance(run, Run) and run.command == 'echo "$C"'
