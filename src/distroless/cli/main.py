"""Entry point of the ``distroless`` command and the one place errors become exit codes."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from distroless import __version__
from distroless.cli.commands import LazyGroup
from distroless.cli.context import App
from distroless.errors import DistrolessError


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar="DISTROLESS_ROOT", type=click.Path(), help="Store directory.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(__version__, prog_name="distroless")
@click.pass_context
def cli(ctx: click.Context, root: str | None, debug: bool) -> None:
    """Build, run, check and ship distroless container images without a Docker daemon."""
    ctx.obj = App(root=root, debug=debug)


def _register() -> None:
    """Attach every command module; kept in one list so the command set is easy to read."""
    from distroless.cli import commands

    commands.register(cli)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and map :class:`DistrolessError` subclasses to their exit codes."""
    _register()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # Without standalone mode click returns the code of a raised ``Exit`` instead of
        # exiting; ``run`` relies on it to pass the container's exit code through.
        result = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except DistrolessError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
    except OSError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        return 1
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


if __name__ == "__main__":
    sys.exit(main())
