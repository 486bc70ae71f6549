"""The typer application, the ``--version`` flag, and the one error handler.

Each command module exposes ``register(app)``; this module wires them and maps every
``MlrolloutError`` to its exit code with a one-line, redacted message on stderr. Anything
else (a bug) is still one line and exit 6, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from mlrollout import __version__
from mlrollout.cli import (
    admission,
    analyze,
    controller,
    history,
    intents,
    lint,
    manifests,
    plan,
    promote,
    simulate,
    status,
    verify,
)
from mlrollout.errors import ExitCode, MlrolloutError
from mlrollout.redaction import install_log_redaction, redact

__all__ = ["app", "main"]

app = typer.Typer(
    name="mlrollout",
    help="Canary and blue-green releases of ML models on Kubernetes GPU environments.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlrollout {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Canary and blue-green releases of ML models on Kubernetes GPU environments."""


for _module in (
    lint,
    verify,
    promote,
    status,
    intents,
    history,
    analyze,
    plan,
    simulate,
    controller,
    manifests,
    admission,
):
    _module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; the only place where an ``MlrolloutError`` becomes an exit code.

    Usage errors (unknown option, missing argument) are click's: exit 2 with its message.
    """
    install_log_redaction()
    try:
        app(args=argv, prog_name="mlrollout")
    except MlrolloutError as exc:
        typer.echo(f"mlrollout: {_one_line(exc)}", err=True)
        sys.exit(exc.exit_code)
    except RecursionError:
        typer.echo("mlrollout: input nested too deeply to process", err=True)
        sys.exit(ExitCode.BAD_INPUT)
    except Exception as exc:  # a bug: still one line and a documented exit code, no traceback
        typer.echo(f"mlrollout: internal error: {type(exc).__name__}: {_one_line(exc)}", err=True)
        sys.exit(ExitCode.ERROR)


def _one_line(exc: BaseException) -> str:
    return " ".join(redact(str(exc)).split())
