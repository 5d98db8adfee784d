"""The ``distroless`` command group and the one place errors become exit codes."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from distroless import __version__
from distroless.cli.context import App
from distroless.cli.lazy_commands import LazyGroup
from distroless.errors import DistrolessError


def exit_code_table() -> str:
    """The exit codes of every error class (first line of its docstring), for --help."""
    from distroless import errors

    seen: dict[int, str] = {0: "success"}
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.DistrolessError):
            doc = (cls.__doc__ or cls.__name__).strip().splitlines()[0].rstrip(".")
            seen.setdefault(cls.exit_code, doc[0].lower() + doc[1:])
    seen[1] = "a check or test found problems, or another error"
    lines = [f"  {code:>3}  {text}" for code, text in sorted(seen.items())]
    lines.append(f"  {'N':>3}  run, exec, debug: the container's own exit code")
    lines.append(f"  {130:>3}  interrupted (Ctrl-C)")
    return "\b\nExit codes:\n" + "\n".join(lines) + "\n"


MAIN_EPILOG = (
    "\b\nExamples:\n"
    "  distroless build -t my-distroless-app examples/hello-go\n"
    "  distroless run --rm my-distroless-app\n"
    "  distroless debug my-distroless-app\n\n" + exit_code_table()
)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=MAIN_EPILOG,
)
@click.option("--root", envvar="DISTROLESS_ROOT", type=click.Path(), help="Store directory.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(__version__, prog_name="distroless")
@click.pass_context
def cli(ctx: click.Context, root: str | None, debug: bool) -> None:
    """Build, run, check and ship distroless container images without a Docker daemon."""
    ctx.obj = App(root=root, debug=debug)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and map :class:`DistrolessError` subclasses to their exit codes."""
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
