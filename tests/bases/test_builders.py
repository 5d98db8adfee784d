"""The Go builder's recipe names the root of the toolchain its lock pins."""

from __future__ import annotations

from distroless.bases.builders import builder_spec, builder_tag, kind_of, read_builder_lock


def test_go_builder_goroot_is_the_locked_toolchains_directory() -> None:
    kind = kind_of("builder-go")
    spec = builder_spec(kind)
    version = builder_tag(kind, read_builder_lock(kind, spec)).split("-")[0]
    env = dict(spec.env)
    assert env["GOROOT"] == f"/usr/lib/go-{version}"
