"""The typer application, the ``--version`` flag, and the one error handler.

Each command module exposes ``register(app)``; this module wires them and maps every
``MlrolloutError`` to its exit code with a one-line message on stderr.
"""

from __future__ import annotations

import sys

import typer

from mlrollout import __version__
from mlrollout.cli import (
    admission,
    analyze,
    controller,
    intents,
    lint,
    manifests,
    plan,
    promote,
    simulate,
    status,
    verify,
)
from mlrollout.errors import MlrolloutError

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
    try:
        app(args=argv, prog_name="mlrollout")
    except MlrolloutError as exc:
        typer.echo(f"mlrollout: {exc}", err=True)
        sys.exit(exc.exit_code)
