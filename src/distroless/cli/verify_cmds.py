"""``check``, ``test`` and ``sbom``: knowing what is inside an image."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from distroless.cli.context import App, pass_app
from distroless.cli.help_text import examples
from distroless.cli.output import emit_json, human_size
from distroless.errors import InputError, PolicyError
from distroless.oci.models import Platform
from distroless.store import Store
from distroless.store.atomic import atomic_file
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import ImageHandle, from_store
from distroless.verify.layer_scans import LayerScans
from distroless.verify.platforms import ImageCheck, check_stored
from distroless.verify.sbom import FORMATS, AddedFile, SbomFormat, render_sbom
from distroless.verify.scan import scan_image
from distroless.verify.structure import CaseResult, StructureReport, run_structure_tests
from distroless.verify.structure_config import load_config

_platform_option = click.option(
    "--platform", help="Platform of a multi-platform image (os/arch); default: this host's."
)


def _view(app: App, image: str, platform: str | None) -> tuple[Store, FileSystemView]:
    store = Store(app.root_path)
    handle = from_store(store, image, Platform.parse(platform) if platform else None)
    return store, FileSystemView.from_image(handle)


def _print_check(result: ImageCheck) -> None:
    for report in result.reports:
        count = len(report.findings)
        verdict = "passed" if report.passed else f"FAILED ({count} finding{'s' * (count != 1)})"
        click.echo(f"{report.image} ({report.digest[:19]}) {report.platform}: {verdict}")
        click.echo(f"user: {report.user or '(empty: root)'}")
        for item in report.findings:
            click.echo(f"  FINDING  {item.kind:<22} {item.message}")
        for item in report.notes:
            click.echo(f"  note     {item.kind:<22} {item.message}")
        click.echo(f"layers ({human_size(report.total_size)} compressed):")
        for layer in report.layers:
            click.echo(
                f"  {layer.index:>3}  {layer.digest[7:19]}  {human_size(layer.size):>9}  "
                f"{human_size(layer.content_bytes):>9} in {layer.entries} entries"
            )
        if report.largest:
            click.echo("largest files:")
            for big in report.largest:
                click.echo(f"  {human_size(big.size):>9}  {big.path}")
    if len(result.reports) > 1:
        failed = [r.platform for r in result.reports if not r.passed]
        summary = "all passed" if not failed else f"failed: {', '.join(failed)}"
        click.echo(f"{result.image}: {len(result.reports)} platforms, {summary}")


@click.command(
    epilog=examples(
        "distroless check my-distroless-app",
        "distroless check --json --suggest fetch my-distroless-app",
    )
)
@click.argument("image")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--largest", default=10, show_default=True, help="How many large files to list.")
@click.option(
    "--platform",
    help="Check only this platform of a multi-platform image (os/arch); default: every one.",
)
@click.option(
    "--suggest",
    type=click.Choice(["cached", "fetch", "off"]),
    default="cached",
    show_default=True,
    help="Name the Debian package of a missing library: from cached indices only, "
    "fetching the image's release's indices when needed, or not at all.",
)
@click.option("--mirror", help="Debian mirror URL for --suggest fetch (default: apt sources).")
@pass_app
def check(
    app: App,
    image: str,
    as_json: bool,
    largest: int,
    platform: str | None,
    suggest: str,
    mirror: str | None,
) -> None:
    """Check IMAGE: the distroless policy, and whether its command and programs would start.

    Exit 1 if any platform of IMAGE has findings.
    """
    from distroless.verify.suggest import NoHints, PackageHints, hints_for_image

    cache = app.cache_path

    def hints(fs: FileSystemView, handle: ImageHandle) -> PackageHints:
        if suggest == "off":
            return NoHints()
        return hints_for_image(fs, handle, cache, fetch=suggest == "fetch", mirror=mirror)

    store = Store(app.root_path)
    result = check_stored(
        store,
        image,
        Platform.parse(platform) if platform else None,
        largest=largest,
        hints=hints,
    )
    if as_json:
        emit_json(result.to_dict())
    else:
        _print_check(result)
    if not result.passed:
        failures = result.findings()
        where, first = failures[0]
        raise PolicyError(
            f"check failed for {image}: {len(failures)} finding(s); first ({where}): "
            f"{first.message}"
        )


def _print_structure(report: StructureReport) -> None:
    for result in report.results:
        mark = "PASS" if result.passed else "FAIL"
        click.echo(f"{mark}  {result.kind:<14} {result.name}: {result.message}")
    passed = len(report.results) - len(report.failures)
    click.echo(f"{passed} passed, {len(report.failures)} failed")


@click.command(
    "test",
    epilog=examples(
        "distroless test my-distroless-app --config tests.yaml",
        "distroless test --config a.yaml --config b.yaml --junit report.xml my-distroless-app",
    ),
)
@click.argument("image")
@click.option(
    "--config",
    "config_files",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="container-structure-test YAML file (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--junit", type=click.Path(path_type=Path), help="Also write JUnit XML here.")
@click.option("--runtime", default="runc", show_default=True, help="runc or crun.")
@_platform_option
@pass_app
def test_cmd(
    app: App,
    image: str,
    config_files: tuple[Path, ...],
    as_json: bool,
    junit: Path | None,
    runtime: str,
    platform: str | None,
) -> None:
    """Run container-structure tests from --config against IMAGE; exit 1 if any fails."""
    configs = [load_config(path) for path in config_files]
    store, fs = _view(app, image, platform)
    runner = None
    if any(c.commandTests for c in configs):
        from distroless.verify.sandbox_runner import SandboxCommandRunner

        runner = SandboxCommandRunner(
            store, image, runtime=runtime, platform=Platform.parse(platform) if platform else None
        )
    results: list[CaseResult] = []
    for config in configs:
        results.extend(run_structure_tests(fs, config, runner, host_env=os.environ).results)
    report = StructureReport(fs.image.name, fs.image.digest, tuple(results))
    if junit is not None:
        junit.write_bytes(report.to_junit())
    if as_json:
        emit_json(report.to_dict())
    else:
        _print_structure(report)
    if not report.passed:
        raise PolicyError(
            f"{len(report.failures)} of {len(report.results)} structure test(s) failed for "
            f"{image}, first: {report.failures[0].name}"
        )


def _added_files(path: Path | None) -> list[AddedFile]:
    if path is None:
        return []
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        return [AddedFile(str(i["path"]), str(i["sha256"])) for i in items]
    except FileNotFoundError:
        raise InputError(f"added-files list {path} does not exist") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f'{path}: expected a JSON list of {{"path": ..., "sha256": ...}} ({exc})'
        ) from None


def _source_date_epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH", "0") or "0"
    if not value.isdigit():
        raise InputError(f"SOURCE_DATE_EPOCH={value!r} is not a non-negative integer")
    return int(value)


@click.command(
    epilog=examples(
        "distroless sbom my-distroless-app",
        "distroless sbom --format cyclonedx-json -o sbom.json my-distroless-app",
    )
)
@click.argument("image")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="spdx-json",
    show_default=True,
    help="SBOM format.",
)
@click.option("--cyclonedx-version", type=click.Choice(["1.5", "1.6"]), default="1.6")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here, not stdout.")
@click.option(
    "--added-files",
    type=click.Path(path_type=Path),
    help='JSON list of {"path", "sha256"} for files added outside packages.',
)
@click.option(
    "--fresh", is_flag=True, help="Render anew, not the SBOM attached to the image by its build."
)
@_platform_option
@pass_app
def sbom(
    app: App,
    image: str,
    fmt: SbomFormat,
    cyclonedx_version: str,
    output: Path | None,
    added_files: Path | None,
    fresh: bool,
    platform: str | None,
) -> None:
    """Write the software bill of materials of IMAGE (deterministic for one image).

    The SBOM attached at build time is printed when there is one (the bytes push sends);
    --fresh, --added-files or --cyclonedx-version 1.5 render it anew.
    """
    from distroless.verify.attach import attached_sbom

    store = Store(app.root_path)
    handle = from_store(store, image, Platform.parse(platform) if platform else None)
    data = None
    asked_fresh = fresh or added_files or cyclonedx_version != "1.6"
    if not asked_fresh:
        data = attached_sbom(store, handle.digest, fmt)
    if data is None:
        if not asked_fresh:
            click.echo(
                f"note: no SBOM is attached to {image}; this one is rendered from its layers "
                "and lists no files added outside packages (pull it with its referrers, or "
                "build it with its SBOM)",
                err=True,
            )
        data = render_sbom(
            scan_image(handle, LayerScans.of_store(store.root)),
            fmt,
            added_files=_added_files(added_files),
            source_date_epoch=_source_date_epoch(),
            cyclonedx_version=cyclonedx_version,
        )
    if output is None:
        click.echo(data.decode(), nl=False)
    else:
        with atomic_file(output) as fh:
            fh.write(data)
