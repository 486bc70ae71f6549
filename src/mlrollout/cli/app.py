"""The typer application, the ``--version`` flag, and the one error handler.

Commands load lazily: ``COMMANDS`` names each command, the module that registers it and its
one-line help, so ``--version``, ``--help`` and every command import only their own module
(and what it imports) — never scipy, the Kubernetes client or the controller unless the
command runs them. Each command module exposes ``register(app)``. ``main`` maps every
``MlrolloutError`` to its exit code with a one-line, redacted message on stderr (and a JSON
error object on stdout under ``-o json``); anything else (a bug) is still one line and exit 6,
never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click as click  # typer 0.29 vendors click: its Command and Context types
from typer.core import TyperCommand, TyperGroup

from mlrollout import __version__
from mlrollout.cli.failure import report_failure
from mlrollout.errors import ExitCode, MlrolloutError
from mlrollout.redaction import install_log_redaction, redact

__all__ = ["COMMANDS", "app", "main"]


@dataclass(frozen=True)
class CommandEntry:
    """Where a command lives and what ``mlrollout --help`` says about it."""

    module: str
    summary: str


COMMANDS: dict[str, CommandEntry] = {
    "lint": CommandEntry(
        "mlrollout.cli.lint",
        "Validate rollouts and analysis templates; exit 0 when clean, 2 otherwise.",
    ),
    "promote": CommandEntry(
        "mlrollout.cli.promote",
        "Start or resume a release; exit 0 promoted, 1 rolled back, 3 paused, 4 refused.",
    ),
    "demo": CommandEntry(
        "mlrollout.cli.demo",
        "Release a bad model (rolled back) and a good one (promoted) locally; no cluster.",
    ),
    "status": CommandEntry(
        "mlrollout.cli.status",
        "Show a rollout's phase, traffic, gates, analysis verdicts and recent decisions.",
    ),
    "list": CommandEntry(
        "mlrollout.cli.status", "List rollouts with their phase, weight and active environment."
    ),
    "abort": CommandEntry(
        "mlrollout.cli.intents",
        "Abort: send all traffic back to stable now and scale the candidate down.",
    ),
    "pause": CommandEntry(
        "mlrollout.cli.intents", "Pause: hold the current weight until `resume` or `promote`."
    ),
    "resume": CommandEntry("mlrollout.cli.intents", "Resume a paused rollout at its current step."),
    "rollback": CommandEntry(
        "mlrollout.cli.intents",
        "After a promotion, switch back to the previous environment while it is still warm.",
    ),
    "retry": CommandEntry(
        "mlrollout.cli.intents",
        "Start a rolled-back, aborted, failed or refused release again from the first step.",
    ),
    "history": CommandEntry(
        "mlrollout.cli.history",
        "List the releases that reached Succeeded (newest last; revisionHistoryLimit kept).",
    ),
    "undo": CommandEntry(
        "mlrollout.cli.history",
        "Release a recorded revision again; exit 0 promoted, 1 rolled back, 4 refused.",
    ),
    "analyze": CommandEntry(
        "mlrollout.cli.analyze",
        "Compare two live variants over a past window: exit 0 pass, 1 fail, 3 inconclusive.",
    ),
    "plan": CommandEntry(
        "mlrollout.cli.plan", "Expected time to decision per metric and step, with warnings."
    ),
    "simulate": CommandEntry(
        "mlrollout.cli.simulate",
        "Simulate rollouts with known ground truth and report each judge's error rates.",
    ),
    "report": CommandEntry(
        "mlrollout.cli.report",
        "Render a run's report record: HTML for people, Markdown for CI, JSON for tools.",
    ),
    "controller": CommandEntry(
        "mlrollout.cli.controller",
        "Run the leader-elected controller for every ModelRollout it can see.",
    ),
    "verify": CommandEntry(
        "mlrollout.cli.verify",
        "Verify a release (image signatures, attestations, model digests) before it runs.",
    ),
    "admission": CommandEntry(
        "mlrollout.cli.admission",
        "Admission webhook: deny unpinned or unverified images where a policy governs.",
    ),
    "manifests": CommandEntry(
        "mlrollout.cli.manifests", "Print Kubernetes manifests generated from the models."
    ),
}


def load_command(name: str) -> click.Command | None:
    """Import the module that registers ``name`` and return its click command."""
    entry = COMMANDS.get(name)
    if entry is None:
        return None
    holder = typer.Typer()
    importlib.import_module(entry.module).register(holder)
    group = typer.main.get_group(holder)
    return group.get_command(typer.Context(group), name)


class LazyGroup(TyperGroup):
    """The root group: lists every command from ``COMMANDS`` and imports one on use."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if self._listing:
            entry = COMMANDS.get(cmd_name)
            return None if entry is None else TyperCommand(cmd_name, help=entry.summary)
        return load_command(cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="mlrollout",
    cls=LazyGroup,
    help="Canary and blue-green releases of ML models on Kubernetes GPU environments.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlrollout {__version__}")
        raise typer.Exit(0)


def _no_color(value: bool) -> None:
    from mlrollout.cli.styling import set_no_color_flag

    set_no_color_flag(value)  # each invocation sets it, so one run does not leak into the next
    if value:
        # Help and usage errors are drawn by typer through rich: no colour system means no
        # escape sequences at all (NO_COLOR alone still leaves bold and dim).
        import typer.rich_utils

        typer.rich_utils.COLOR_SYSTEM = None


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    no_color: bool = typer.Option(
        False,
        "--no-color",
        envvar="NO_COLOR",
        callback=_no_color,
        is_eager=True,
        help="No colour or styling in any output (also: NO_COLOR=1).",
    ),
) -> None:
    """Canary and blue-green releases of ML models on Kubernetes GPU environments."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; the only place where an ``MlrolloutError`` becomes an exit code.

    Usage errors (unknown option, missing argument) are click's: exit 2 with its message.
    """
    install_log_redaction()
    args: list[Any] = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="mlrollout")
    except MlrolloutError as exc:
        sys.exit(report_failure(exc, args))
    except RecursionError:
        typer.echo("mlrollout: input nested too deeply to process", err=True)
        sys.exit(ExitCode.BAD_INPUT)
    except Exception as exc:  # a bug: still one line and a documented exit code, no traceback
        text = " ".join(redact(str(exc)).split())
        typer.echo(f"mlrollout: internal error: {type(exc).__name__}: {text}", err=True)
        sys.exit(ExitCode.ERROR)
