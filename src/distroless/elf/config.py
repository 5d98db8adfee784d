"""What the loader takes from the process rather than from the files it reads.

An image's config gives the environment (``LD_LIBRARY_PATH``, ``LD_PRELOAD``) and the
working directory; the CPU that will run it decides the ``glibc-hwcaps`` subdirectories
and ``$PLATFORM``.  None of that is in the image's files, so it is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class LoaderConfig:
    """What the loader takes from its environment rather than from the files.

    ``ld_library_path`` and ``preload`` come from the image's env (``LD_LIBRARY_PATH``,
    ``LD_PRELOAD``), ``cwd`` from its working directory.  ``hwcaps`` are the
    ``glibc-hwcaps`` subdirectories the CPU supports, best first (``x86-64-v3``, …): the
    default, none, is what every CPU of the architecture runs.  ``at_platform``
    (``$PLATFORM``), ``dst_lib`` (``$LIB``) and ``system_dirs`` override the
    :class:`~distroless.elf.machine.Loader`'s values; ``at_platform=""`` means the kernel
    sets none.  ``expected`` is the image's OCI ``(architecture, variant)``.
    """

    ld_library_path: str | None = None
    preload: str | None = None
    cwd: str = "/"
    hwcaps: tuple[str, ...] = ()
    at_platform: str | None = None
    dst_lib: str | None = None
    system_dirs: tuple[str, ...] | None = None
    use_cache: bool = True
    use_preload_file: bool = True
    expected: tuple[str, str | None] | None = None

    @classmethod
    def from_env(
        cls,
        env: Iterable[str] | Mapping[str, str],
        *,
        cwd: str = "/",
        expected: tuple[str, str | None] | None = None,
        hwcaps: tuple[str, ...] = (),
    ) -> LoaderConfig:
        """From an image config's ``Env`` (``["K=V", …]``) or a mapping."""
        values = dict(env) if isinstance(env, Mapping) else dict(_split_env(env))
        return cls(
            ld_library_path=values.get("LD_LIBRARY_PATH"),
            preload=values.get("LD_PRELOAD"),
            cwd=cwd or "/",
            hwcaps=hwcaps,
            expected=expected,
        )


def _split_env(env: Iterable[str]) -> Iterator[tuple[str, str]]:
    for item in env:
        key, sep, value = item.partition("=")
        if sep:
            yield key, value
