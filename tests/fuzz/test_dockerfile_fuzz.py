"""Any Dockerfile text parses into a value or a DistrolessError; so do the steps after it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from distroless.dockerfile import Dockerfile, DockerIgnore, build_graph, expand, parse
from distroless.dockerfile.substitution import expand_words
from tests.fuzz.mutate import fuzz_settings, mutated_text, result_or_error

_CORPUS = Path(__file__).parent.parent / "dockerfile" / "corpus"
SEEDS = [
    p.read_text(errors="surrogateescape")
    for sub in ("valid", "invalid")
    for p in sorted((_CORPUS / sub).glob("*.Dockerfile"))
] + [
    "# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN echo `\n  hi\n",
    "ARG B=base\nFROM ${B:-x} AS one\nFROM one\nCOPY --from=0 /a /b\n",
    "FROM a AS x\nCOPY --from=y /a /b\nFROM a AS y\nCOPY --from=x /a /b\n",
    "FROM a\nRUN <<EOF bash\necho $HOME\nEOF\nCOPY <<-X /f\n\tcontent\nX\n",
    "FROM a\nRUN --mount=type=cache,target=/c,from=b --network=none make\n",
    'FROM a\nENV A=1 B="two words" C=${A:+set}\nLABEL "k"="v" k2=v2\nEXPOSE 80/tcp\n',
    'FROM a\nONBUILD RUN x\nHEALTHCHECK --interval=5s CMD true\nSHELL ["/bin/sh", "-c"]\n',
]
_WORDS = st.text(alphabet=st.sampled_from(list("ab$_{}:-+?#%/\\\"' `*\x00\n")), max_size=40)


@fuzz_settings(600)
@given(mutated_text(SEEDS))
def test_parse_never_crashes(text: str) -> None:
    result = result_or_error(lambda: parse(text, "Dockerfile"))
    if isinstance(result, Dockerfile):
        target = result.stages[-1].name if result.stages and result.stages[-1].name else None
        result_or_error(lambda: build_graph(result, target, {"B": "x"}))


@fuzz_settings(300)
@given(st.text(max_size=200))
def test_parse_random_text(text: str) -> None:
    result_or_error(lambda: parse(text))


@fuzz_settings(400)
@given(_WORDS, st.dictionaries(st.sampled_from(["a", "b", "_"]), st.text(max_size=5)))
def test_expand_never_crashes(text: str, env: dict[str, str]) -> None:
    result_or_error(lambda: expand(text, env))
    result_or_error(lambda: expand(text, env, "`"))
    result_or_error(lambda: expand_words(text, env))


@fuzz_settings(300)
@given(
    mutated_text(["*.pyc\n!keep.pyc\n# c\n/build/**\n[a-z]?.txt\n**/x\n\\#lit\n"]),
    st.text(alphabet=st.sampled_from(list("ab/.[]*?\\")), max_size=20),
)
def test_dockerignore_never_crashes(text: str, path: str) -> None:
    result = result_or_error(lambda: DockerIgnore.parse(text))
    if isinstance(result, DockerIgnore):
        result_or_error(lambda: result.matches(path))
