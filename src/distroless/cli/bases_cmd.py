"""``distroless bases list|build|lock``: the distroless base images built from Debian."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from distroless.assemble.time import source_date_epoch
from distroless.bases.locks import LOCK_ARCHS, LOCK_DIR, lock_inputs, lock_path
from distroless.bases.recipe import DEFAULT_DISTRO, DISTROS, TAGS, Recipes
from distroless.cli.context import App, pass_app
from distroless.cli.options import mirror_option, progress_option
from distroless.cli.output import (
    ProgressMode,
    TerminalReporter,
    emit_json,
    human_size,
    table,
)
from distroless.errors import DistrolessError, InputError, StoreError, UsageError
from distroless.oci.models import Platform
from distroless.store import Store

_distro_option = click.option(
    "--distro",
    type=click.Choice(DISTROS),
    default=DEFAULT_DISTRO,
    show_default=True,
    help="Debian release the bases are built from.",
)


@click.group()
def bases() -> None:
    """The distroless base images (static, base-nossl, base, cc, python3)."""


def _size(store: Store, name: str) -> int | None:
    """Compressed size of the stored amd64 image, or None if it was not built."""
    try:
        image = store.load_image(name, Platform("linux", "amd64"))
    except DistrolessError:
        return None
    return image.manifest.config.size + sum(layer.size for layer in image.layers)


@bases.command("list")
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


def _archs(text: str) -> tuple[str, ...]:
    archs = tuple(a.strip() for a in text.split(",") if a.strip())
    unknown = [a for a in archs if a not in LOCK_ARCHS]
    if not archs or unknown:
        bad = unknown[0] if unknown else text
        raise UsageError(f"unknown architecture {bad!r}; known: {', '.join(LOCK_ARCHS)}")
    return archs


@bases.command("build")
@click.argument("names", nargs=-1)
@_distro_option
@click.option(
    "--arch",
    "arch_list",
    default="amd64,arm64",
    show_default=True,
    help="Comma-separated architectures; one gives a single-arch image.",
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
    arch_list: str,
    squash: bool,
    mirror: str | None,
    progress: str,
    as_json: bool,
) -> None:
    """Build NAME[:TAG]... (all bases and tags by default) from the committed lockfiles."""
    from distroless.build import BasesRequest, build_base_images

    request = BasesRequest(
        package_cache=app.cache_path,
        names=names,
        distro=distro,
        archs=_archs(arch_list),
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


@bases.command("lock")
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
    """Pin the exact packages of every base to the archive's current versions."""
    from distroless.debian.provider import PackageSource

    recipes = Recipes.builtin()
    reporter = TerminalReporter()
    source = PackageSource(app.cache_path, mirror=mirror, reporter=reporter)
    try:
        for distro in distros or DISTROS:
            result = source.lock(lock_inputs(recipes, distro))
            path = lock_path(distro, lock_dir)
            try:
                lock_dir.mkdir(parents=True, exist_ok=True)
                result.write(path)
            except OSError as exc:
                raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
            except StoreError as exc:
                raise InputError(exc.message) from None
            count = sum(len(p) for p in result.archs.values())
            click.echo(f"Wrote {path} ({count} packages)")
    finally:
        source.close()
        reporter.close()
