"""``abort``, ``pause``, ``resume``, ``rollback``, ``retry``: record a user's intent.

Part of the ``cli`` layer. The CLI never acts on the cluster's workloads itself: it records
the intent on the ModelRollout (an annotation; no new generation) and whoever drives the
rollout — the in-cluster controller or a running ``mlrollout promote`` — acts on it.
"""

from __future__ import annotations

import typer

from mlrollout.cli.cluster import CONTEXT, KUBECONFIG, NAMESPACE, ClusterOptions, read_rollout
from mlrollout.cli.output import OUTPUT_HELP, OutputFormat, print_document
from mlrollout.kube import Intent, RolloutStore

__all__ = ["register"]

_HELP = {
    Intent.ABORT: "Abort: send all traffic back to stable now and scale the candidate down.",
    Intent.PAUSE: "Pause: hold the current weight until `resume` or `promote`.",
    Intent.RESUME: "Resume a paused rollout at its current step.",
    Intent.ROLLBACK: "After a promotion, switch back to the previous environment while it is "
    "still warm.",
    Intent.RETRY: "Start a rolled-back, aborted, failed or refused release again from the "
    "first step.",
}


def _register_one(app: typer.Typer, intent: Intent) -> None:
    def command(
        name: str = typer.Argument(..., help="ModelRollout name."),
        output: OutputFormat = typer.Option(OutputFormat.TEXT, "--output", "-o", help=OUTPUT_HELP),
        kubeconfig: str | None = KUBECONFIG,
        context: str | None = CONTEXT,
        namespace: str | None = NAMESPACE,
    ) -> None:
        options = ClusterOptions(kubeconfig, context, namespace)
        ns = options.resolved_namespace()
        with options.client() as client:
            store = RolloutStore(client)
            stored = read_rollout(store, ns, name)
            stamp = store.request(ns, name, intent)
        phase = stored.status.phase.value
        if output.machine:
            print_document(
                {
                    "name": name,
                    "namespace": ns,
                    "intent": intent.value,
                    "requestedAt": stamp,
                    "phase": phase,
                },
                output,
            )
        else:
            typer.echo(
                f"{ns}/{name}: {intent.value} requested (phase {phase}); the "
                "controller acts on its next pass"
            )

    command.__doc__ = _HELP[intent]
    app.command(intent.value)(command)


def register(app: typer.Typer) -> None:
    """Add one command per intent."""
    for intent in _HELP:
        _register_one(app, intent)
