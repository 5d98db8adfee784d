"""Commands over the local store: images, inspect, tag, rmi, prune, fsck, save, load."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from distroless.cli.context import App, pass_app
from distroless.cli.help_text import examples
from distroless.cli.output import emit_json, human_size, table
from distroless.errors import DistrolessError, PolicyError
from distroless.oci import mediatypes as mt
from distroless.oci.models import Platform
from distroless.runtime.rootfs import LayerCache
from distroless.store import Store
from distroless.store.atomic import atomic_file
from distroless.transports import tarball


def _image_summary(store: Store, name: str, digest: str, media_type: str) -> dict[str, Any]:
    platforms = store.platforms(digest)
    image = store.load_image(digest, platforms[0]) if platforms else None
    layers = image.layers if image else ()
    size = sum(layer.size for layer in layers) + (image.manifest.config.size if image else 0)
    repo, _, tag = name.rpartition(":")
    return {
        "name": name,
        "repository": repo,
        "tag": tag,
        "digest": digest,
        "platforms": [str(p) for p in platforms],
        "index": mt.is_index(media_type),
        "created": image.config.created if image else None,
        "size": size,
        "layers": len(layers),
    }


@click.command(epilog=examples("distroless images", "distroless images --json"))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def images(app: App, as_json: bool) -> None:
    """List the images in the local store.

    An image that cannot be read is left out with one warning naming it, and the rest are
    listed, as `docker images` does; `distroless fsck` reports what is wrong with it.
    """
    store = Store(app.root_path)
    rows = []
    for name, d in store.refs():
        try:
            rows.append(_image_summary(store, name, d.digest, d.media_type))
        except DistrolessError as exc:
            click.echo(f"warning: {name} ({d.digest}) cannot be listed: {exc}", err=True)
    if as_json:
        emit_json(rows)
        return
    table(
        ["REPOSITORY", "TAG", "DIGEST", "PLATFORMS", "SIZE"],
        [
            (
                r["repository"],
                r["tag"],
                r["digest"][7:19],
                ",".join(r["platforms"]),
                human_size(r["size"]),
            )
            for r in rows
        ],
    )


@click.command(
    epilog=examples(
        "distroless inspect my-distroless-app",
        "distroless inspect --platform linux/arm64 hello-multiarch",
    )
)
@click.argument("image")
@click.option("--platform", help="Platform of a multi-platform image (os/arch).")
@pass_app
def inspect(app: App, image: str, platform: str | None) -> None:
    """Show an image's manifest descriptor, config and layers as JSON."""
    store = Store(app.root_path)
    desc = store.resolve(image)
    loaded = store.load_image(image, Platform.parse(platform) if platform else None)
    emit_json(
        {
            "name": image,
            "digest": desc.digest,
            "mediaType": desc.media_type,
            "platforms": [str(p) for p in store.platforms(image)],
            "manifest": loaded.manifest.to_dict(),
            "manifestDigest": loaded.descriptor.digest,
            "config": loaded.config.to_dict(),
        }
    )


@click.command(
    epilog=examples(
        "distroless tag my-distroless-app my-distroless-app:v1",
        "distroless tag my-distroless-app 127.0.0.1:5000/hello:1",
    )
)
@click.argument("source")
@click.argument("target")
@pass_app
def tag(app: App, source: str, target: str) -> None:
    """Give an image another name."""
    store = Store(app.root_path)
    store.tag(target, store.resolve(source))


@click.command(
    epilog=examples(
        "distroless rmi my-distroless-app:v1", "distroless rmi app:1 app:2 && distroless prune"
    )
)
@click.argument("names", nargs=-1, required=True)
@pass_app
def rmi(app: App, names: tuple[str, ...]) -> None:
    """Remove image names (blobs go at the next prune)."""
    store = Store(app.root_path)
    for name in names:
        desc = store.untag(name)
        click.echo(f"Untagged: {name} ({desc.digest})")


@click.command(epilog=examples("distroless prune", "distroless prune --all --json"))
@click.option(
    "--all", "everything", is_flag=True,
    help="Also drop the layer and build caches, RUN cache mounts, the package cache and "
    "the build's stat records.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def prune(app: App, everything: bool, as_json: bool) -> None:
    """Delete exited containers and what no image uses: blobs, unpacked layers, leftovers
    of killed runs.  Running containers are kept, as `docker system prune` keeps them.

    With --all, also everything that is made or downloaded again on demand: the layer and
    build caches, the caches of RUN --mount=type=cache, the package cache (.debs,
    indices, wheels) and the stat records that spare rebuilds reading unchanged files.
    Run it while no build runs.
    """
    from distroless.runtime.container import reap_orphans
    from distroless.runtime.lifecycle import prune_exited
    from distroless.store.usage import clear_caches, image_blobs
    from distroless.verify.layer_scans import LayerScans

    store = Store(app.root_path)
    reap_orphans(store.root)  # containers, mounts and state of killed runs and builds
    containers = prune_exited(store.root)
    dropped = 0
    if everything:
        dropped = sum(store.drop_roots(kind) for kind in ("layer", "build-cache"))
    result = store.prune()
    # an unpacked layer stays only while a tagged image uses it; cached blobs unpack again
    used = image_blobs(store)
    unpacked = LayerCache(store.state_dir("layers")).prune(lambda d: d in used)
    LayerScans.of_store(store.root).prune(store.has_blob)  # records of gone layers
    cleared = clear_caches(store, app.cache_path) if everything else None
    if as_json:
        emit_json(
            {
                "containers": containers,
                "blobs": result.blobs,
                "bytes": result.bytes,
                "cache_entries": dropped,
                "unpacked_layers": unpacked.layers,
                "unpacked_bytes": unpacked.bytes,
                "run_cache_mounts": cleared.run_mounts if cleared else 0,
                "run_cache_mount_bytes": cleared.run_mount_bytes if cleared else 0,
                "package_cache_files": cleared.package_files if cleared else 0,
                "package_cache_bytes": cleared.package_bytes if cleared else 0,
            }
        )
        return
    if containers:
        click.echo(f"Deleted containers: {', '.join(containers)}")
    click.echo(f"Deleted {result.blobs} blobs, reclaimed {human_size(result.bytes)}")
    if unpacked.layers:
        click.echo(
            f"Deleted {unpacked.layers} unpacked layers, reclaimed {human_size(unpacked.bytes)}"
        )
    if cleared is not None and (cleared.run_mounts or cleared.package_files):
        click.echo(
            f"Deleted {cleared.run_mounts} RUN cache mounts and {cleared.package_files} "
            f"package cache files, reclaimed "
            f"{human_size(cleared.run_mount_bytes + cleared.package_bytes)}"
        )


@click.group(epilog=examples("distroless system df", "distroless system df --json"))
def system() -> None:
    """What the store and its caches use."""


@system.command("df", epilog=examples("distroless system df", "distroless system df --json"))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def df(app: App, as_json: bool) -> None:
    """Show the disk use of images, caches, unpacked layers and the package cache."""
    from distroless.store.usage import disk_usage

    rows = disk_usage(Store(app.root_path), app.cache_path)
    if as_json:
        emit_json([row.to_dict() for row in rows])
        return
    table(
        ["TYPE", "COUNT", "SIZE", "RECLAIMABLE"],
        [(r.name, r.count, human_size(r.size), human_size(r.reclaimable)) for r in rows],
    )


@click.command(epilog=examples("distroless fsck", "distroless fsck --json"))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def fsck(app: App, as_json: bool) -> None:
    """Verify every blob and reference of the store."""
    store = Store(app.root_path)
    problems = store.fsck()
    # the layer cache is checked against the record made when each layer was unpacked
    problems += LayerCache(store.state_dir("layers")).verify()
    if as_json:
        emit_json({"ok": not problems, "problems": problems})
    else:
        for problem in problems:
            click.echo(problem)
        if not problems:
            click.echo("store is consistent")
    if problems:
        raise PolicyError(f"{len(problems)} problem(s) found in the store")


@click.command(
    epilog=examples(
        "distroless save my-distroless-app:v1 -o app.tar",
        "distroless save --format oci my-distroless-app:v1 -o app-oci.tar",
        "distroless save my-distroless-app | docker load",
    )
)
@click.argument("names", nargs=-1, required=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="File to write (default stdout)."
)
@click.option(
    "--format", "fmt", type=click.Choice(["docker", "oci"]), default="docker", show_default=True
)
@click.option("--platform", help="Platform for the docker manifest.json of multi-platform images.")
@pass_app
def save(
    app: App, names: tuple[str, ...], output: str | None, fmt: str, platform: str | None
) -> None:
    """Write images to a tarball that `docker load` accepts."""
    store = Store(app.root_path)
    plat = Platform.parse(platform) if platform else None
    if output is None:
        if sys.stdout.isatty():
            raise click.UsageError("refusing to write a tarball to a terminal; use -o FILE")
        tarball.save(store, names, sys.stdout.buffer, "docker" if fmt == "docker" else "oci", plat)
        return
    with atomic_file(Path(output)) as fh:
        tarball.save(store, names, fh, "docker" if fmt == "docker" else "oci", plat)


@click.command(epilog=examples("distroless load -i app.tar", "docker save app:1 | distroless load"))
@click.option(
    "-i", "--input", "source", type=click.Path(dir_okay=False), help="Tarball (default stdin)."
)
@pass_app
def load(app: App, source: str | None) -> None:
    """Import images from a docker-archive or OCI tarball."""
    store = Store(app.root_path)
    loaded = tarball.load(store, Path(source) if source else sys.stdin.buffer)
    for name in loaded:
        click.echo(f"Loaded image: {name}")
