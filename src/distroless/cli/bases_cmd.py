"""``distroless bases list|build|lock``: the distroless base images built from Debian."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from distroless.assemble.time import source_date_epoch
from distroless.bases.locks import LOCK_DIR, lock_path
from distroless.bases.recipe import DEFAULT_DISTRO, DISTROS, TAGS, Recipes
from distroless.cli.context import App, pass_app
from distroless.cli.help_text import examples
from distroless.cli.options import mirror_option, progress_option
from distroless.cli.output import (
    ProgressMode,
    TerminalReporter,
    emit_json,
    human_size,
    table,
)
from distroless.errors import DistrolessError, InputError, StoreError
from distroless.oci.models import Platform
from distroless.store import Store

_distro_option = click.option(
    "--distro",
    type=click.Choice(DISTROS),
    default=DEFAULT_DISTRO,
    show_default=True,
    help="Debian release the bases are built from.",
)


@click.group(
    epilog=examples(
        "distroless bases list",
        "distroless bases build static --arch amd64,arm64",
        "distroless bases lock --distro debian13",
    )
)
def bases() -> None:
    """The distroless base images (static, base, cc, python3, java, nodejs) and builders."""


def _size(store: Store, name: str) -> int | None:
    """Compressed size of the stored amd64 image, or None if it was not built."""
    try:
        image = store.load_image(name, Platform("linux", "amd64"))
    except DistrolessError:
        return None
    return image.manifest.config.size + sum(layer.size for layer in image.layers)


@bases.command(
    "list",
    epilog=examples("distroless bases list", "distroless bases list --distro debian12 --json"),
)
@_distro_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def list_bases(app: App, distro: str, as_json: bool) -> None:
    """List the bases: name, tags, packages and (if built) the amd64 size."""
    recipes = Recipes.builtin()
    store = Store(app.root_path)
    rows: list[dict[str, Any]] = []
    for name in recipes.names_for(distro):
        recipe = recipes.get(name, distro)
        stored = (
            f"distroless/{name}:latest"
            if distro == DEFAULT_DISTRO
            else (f"distroless/{name}-{distro}:latest")
        )
        rows.append(
            {
                "name": name,
                "distro": distro,
                "description": recipe.description,
                "tags": list(TAGS),
                "packages": list(recipe.packages),
                "size": _size(store, stored),
            }
        )
    if as_json:
        emit_json(rows)
        return
    table(
        ["NAME", "TAGS", "PACKAGES", "SIZE"],
        [
            [
                r["name"],
                ",".join(TAGS),
                len(r["packages"]),
                "-" if r["size"] is None else human_size(r["size"]),
            ]
            for r in rows
        ],
    )


@bases.command(
    "build",
    epilog=examples(
        "distroless bases build",
        "distroless bases build static:latest python3:latest --arch amd64",
        "distroless bases build static --distro debian12 --squash",
    ),
)
@click.argument("names", nargs=-1)
@_distro_option
@click.option(
    "--arch",
    "arch_list",
    default=None,
    help="Comma-separated Debian architectures (armhf, i386, ...) or `all`; one gives a "
    "single-arch image.  [default: the host's and arm64]",
)
@click.option("--squash", is_flag=True, help="One layer per image instead of one per package.")
@mirror_option
@progress_option
@click.option(
    "--json", "as_json", is_flag=True,
    help="Print what was built as JSON; progress events as JSON lines on stderr.",
)  # fmt: skip
@pass_app
def build(
    app: App,
    names: tuple[str, ...],
    distro: str,
    arch_list: str | None,
    squash: bool,
    mirror: str | None,
    progress: str,
    as_json: bool,
) -> None:
    """Build NAME[:TAG]... (all bases and tags by default) from the committed lockfiles."""
    from distroless.bases.locks import read_lock
    from distroless.bases.platforms import default_archs, parse_archs
    from distroless.build import BasesRequest, build_base_images

    locked = tuple(read_lock(Recipes.builtin(), distro).archs)
    archs = parse_archs(arch_list, distro, locked) if arch_list else default_archs()
    request = BasesRequest(
        package_cache=app.cache_path,
        names=names,
        distro=distro,
        archs=archs,
        squash=squash,
        source_date_epoch=source_date_epoch(),
        mirror=mirror,
    )
    store = Store(app.root_path)
    mode: ProgressMode = "json" if as_json else progress  # type: ignore[assignment]
    reporter = TerminalReporter(mode=mode)
    try:
        built = build_base_images(store, request, reporter)
    finally:
        reporter.close()
    if as_json:
        emit_json(
            [
                {
                    "name": b.name,
                    "tag": b.tag,
                    "distro": b.distro,
                    "digest": str(b.descriptor.digest),
                    "refs": list(b.refs),
                }
                for b in built
            ]
        )
        return
    for b in built:
        click.echo(f"{b.refs[0]}  {b.descriptor.digest}")


@bases.command(
    "lock",
    epilog=examples("distroless bases lock", "distroless bases lock --distro debian13 --dir locks"),
)
@click.option(
    "--distro",
    "distros",
    type=click.Choice(DISTROS),
    multiple=True,
    help="Distro to lock (repeatable; default: all).",
)
@click.option(
    "--dir",
    "lock_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=LOCK_DIR,
    show_default=True,
    help="Where to write the locks (the builds read the ones shipped with distroless).",
)
@mirror_option
@pass_app
def lock(app: App, distros: tuple[str, ...], lock_dir: Path, mirror: str | None) -> None:
    """Pin the exact packages of every base to the archive's current versions, for every
    release architecture the archive serves, and the builders' packages (Debian 13)."""
    from distroless.bases.builders import BUILDERS, builder_lock_path, make_builder_lock
    from distroless.bases.locks import make_lock
    from distroless.debian.provider import PackageSource

    recipes = Recipes.builtin()
    reporter = TerminalReporter()
    source = PackageSource(app.cache_path, mirror=mirror, reporter=reporter)
    try:
        for distro in distros or DISTROS:
            result = make_lock(source, recipes, distro, reporter)
            path = lock_path(distro, lock_dir)
            try:
                lock_dir.mkdir(parents=True, exist_ok=True)
                result.write(path)
            except OSError as exc:
                raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
            except StoreError as exc:
                raise InputError(exc.message) from None
            count = sum(len(p) for p in result.archs.values())
            click.echo(f"Wrote {path} ({count} packages for {', '.join(result.archs)})")
        if DEFAULT_DISTRO in (distros or DISTROS):
            for kind in BUILDERS.values():
                result = make_builder_lock(source, kind)
                path = builder_lock_path(kind, lock_dir)
                try:
                    result.write(path)
                except OSError as exc:
                    raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
                count = sum(len(p) for p in result.archs.values())
                click.echo(f"Wrote {path} ({count} packages for {', '.join(result.archs)})")
    finally:
        source.close()
        reporter.close()
