"""Any spec text validates into an ImageSpec or a SpecError (a DistrolessError)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from distroless.spec import parse_spec
from tests.fuzz.mutate import fuzz_settings, mutated_text, result_or_error

_RECIPES = Path(__file__).parents[2] / "src" / "distroless" / "bases" / "recipes"
SEEDS = [p.read_text() for p in sorted(_RECIPES.glob("*.yaml"))] + [
    """base: scratch
archs: [amd64, arm64]
files:
  - {src: app, dst: /app, mode: 0755, uid: 65532, gid: 65532}
  - {dst: /etc/motd, content: "hi\\n", mode: "0600"}
  - {dst: /tmp, type: directory, mode: 01777}
  - {dst: /usr/bin/app, symlink: /app}
entrypoint: ["/app"]
cmd: --serve
env: {A: "1"}
workdir: /work
user: 65532
labels: {b: "2", a: "1"}
""",
    "packages: [libc6, 'zlib1g (>= 1:1.2)']\nrepositories: [{url: x}]\ntags: [latest]\n",
    "&a [1, *a]\n",
    "a: &x {b: *x}\n",
    "? [complex, key]\n: value\n",
    "!!python/object:os.system x\n",
    "files:\n  - dst: /x\n    mode: 99999999999999999999\n",
    "%YAML 1.1\n---\nbase: x\n...\n---\nbase: y\n",
]


@fuzz_settings(500)
@given(mutated_text(SEEDS))
def test_parse_spec_never_crashes(text: str) -> None:
    result_or_error(lambda: parse_spec(text, Path("/nonexistent/fuzz/image.yaml")))


@fuzz_settings(200)
@given(st.text(max_size=300))
def test_parse_spec_random_text(text: str) -> None:
    result_or_error(lambda: parse_spec(text, Path("/nonexistent/fuzz/image.yaml")))
