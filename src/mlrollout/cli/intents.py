"""``abort``, ``pause``, ``resume``, ``rollback``, ``retry``: record a user's intent.

Part of the ``cli`` layer. The CLI never acts on the cluster's workloads itself: it records
the intent on the ModelRollout (an annotation; no new generation) and whoever drives the
rollout — the in-cluster controller or a running ``mlrollout promote`` — acts on it. Each
command says who that is (the live Lease holder, ``cli.drivers``); when nothing holds the
Lease the intent is still recorded, and the command exits 3 saying how to get it acted on.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from mlrollout.cli.cluster import ClusterOptions, cluster_command, read_rollout
from mlrollout.cli.drivers import find_driver
from mlrollout.cli.output import OUTPUT, OutputFormat, print_document
from mlrollout.errors import ExitCode, GateError
from mlrollout.kube import Intent, RolloutStore
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec.status import Phase

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


def _refuse_cold_rollback(intent: Intent, stored: StoredRollout) -> None:
    """A rollback after a promotion needs the previous environment kept warm: refused (4)
    at once, recording nothing, when the rollout holds no warm environment."""
    status = stored.status
    if intent is Intent.ROLLBACK and status.phase is Phase.SUCCEEDED and status.scale_down is None:
        raise GateError(
            "NOT_WARM",
            f"{stored.rollout.namespace}/{stored.rollout.name}: no environment is kept warm "
            "(none was promised, or its warm period is over); roll out the previous release "
            "instead",
        )


def _register_one(app: typer.Typer, intent: Intent) -> None:
    def command(
        name: str = typer.Argument(..., help="ModelRollout name."),
        output: OutputFormat = OUTPUT,
        lease_namespace: str = typer.Option(
            "default",
            "--lease-namespace",
            envvar="MLROLLOUT_LEASE_NAMESPACE",
            help="Namespace of the in-cluster controller's Lease (the rollout's is also checked).",
        ),
        *,
        cluster: ClusterOptions,
    ) -> None:
        ns = cluster.resolved_namespace()
        with cluster.client() as client:
            store = RolloutStore(client)
            stored = read_rollout(store, ns, name)
            _refuse_cold_rollback(intent, stored)
            stamp = store.request(ns, name, intent)
            driver = find_driver(client, namespaces=(lease_namespace, ns), now=datetime.now(UTC))
        phase = stored.status.phase.value
        if output.machine:
            print_document(
                {
                    "name": name,
                    "namespace": ns,
                    "intent": intent.value,
                    "requestedAt": stamp,
                    "phase": phase,
                    "drivenBy": driver,
                },
                output,
            )
        elif driver is not None:
            typer.echo(
                f"{ns}/{name}: {intent.value} requested (phase {phase}); {driver} acts on "
                "it on its next pass"
            )
        if driver is None:
            typer.echo(
                f"{ns}/{name}: {intent.value} recorded, but no controller or promote holds the "
                f"Lease in {lease_namespace!r} or {ns!r}: nothing acts on it until you run "
                f"`mlrollout promote {name} -n {ns}` or start `mlrollout controller`",
                err=True,
            )
            raise typer.Exit(ExitCode.INCONCLUSIVE)

    command.__doc__ = _HELP[intent]
    app.command(intent.value)(cluster_command(command))


def register(app: typer.Typer) -> None:
    """Add one command per intent."""
    for intent in _HELP:
        _register_one(app, intent)
