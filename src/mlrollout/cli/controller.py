"""``mlrollout controller``: run the in-cluster manager (leader-elected) in the foreground.

Part of the ``cli`` layer. Wires the manager with the analysis templates, a Prometheus
provider per rollout, the health endpoint and logging, and exits 1 when the Lease is lost
(Kubernetes restarts the Pod, which stands by until it leads again).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import FrameType

import typer

from mlrollout.cli.cluster import CONTEXT, KUBECONFIG, ClusterOptions
from mlrollout.cli.lint import template_files
from mlrollout.cli.logs import LOG_HELP, logging_to_stderr
from mlrollout.cli.output import OutputFormat
from mlrollout.clock import SystemClock
from mlrollout.controller.analyst import MetricsAnalyst
from mlrollout.controller.driver import identity
from mlrollout.controller.manager import Manager, ManagerSettings
from mlrollout.controller.ports import Analyst
from mlrollout.controller.telemetry import HealthServer, Telemetry
from mlrollout.errors import SpecError
from mlrollout.kube import KubeClient
from mlrollout.kube.templates import read_templates
from mlrollout.metrics.provider import MetricProvider
from mlrollout.metrics.registry import build_cluster_providers
from mlrollout.spec import AnalysisTemplate, ModelRollout, load_paths
from mlrollout.spec.environment import EnvironmentSettings

__all__ = ["build_analyst_factory", "register"]


def build_analyst_factory(
    client: KubeClient,
    library: Mapping[str, AnalysisTemplate] | None,
    *,
    now: Callable[[], datetime],
    provider_for: Callable[[ModelRollout], MetricProvider] | None = None,
) -> Callable[[ModelRollout], Analyst | None]:
    """The analyst of each rollout: templates from ``library`` (``--templates``), or else
    read from the cluster (its namespace's AnalysisTemplates over the
    ClusterAnalysisTemplates) whenever the rollout's reconciler is built — at start and at
    every new generation of the rollout."""

    def analyst_for(rollout: ModelRollout) -> Analyst | None:
        if rollout.spec.analysis is None:
            return None
        templates = library if library is not None else read_templates(client, rollout.namespace)
        if provider_for is not None:
            provider = provider_for(rollout)
        else:
            config = rollout.spec.metrics.prometheus if rollout.spec.metrics else None
            provider = build_cluster_providers(config)
        return MetricsAnalyst(provider, templates, now=now)

    return analyst_for


def register(app: typer.Typer) -> None:
    """Add ``controller``."""

    @app.command("controller")
    def controller(
        namespace: str | None = typer.Option(
            None, "--namespace", "-n", help="Watch one namespace (default: all)."
        ),
        lease_namespace: str = typer.Option(
            "default",
            "--lease-namespace",
            envvar="MLROLLOUT_LEASE_NAMESPACE",
            help="Namespace of the controller Lease.",
        ),
        workers: int = typer.Option(
            4, "--workers", min=1, max=64, help="Rollouts reconciled in parallel."
        ),
        health_port: int = typer.Option(
            8080,
            "--health-port",
            min=0,
            max=65535,
            help="Port of /healthz, /readyz and /metrics (0: any free port).",
        ),
        health_host: str = typer.Option(
            "0.0.0.0", "--health-host", help="Address the health endpoint binds."
        ),
        templates: list[Path] = typer.Option(
            None,
            "--templates",
            "-t",
            help="AnalysisTemplate directory (repeatable; default: the AnalysisTemplate and "
            "ClusterAnalysisTemplate objects in the cluster).",
        ),
        holder: str | None = typer.Option(
            None, "--identity", help="Lease holder identity (default: host-pid)."
        ),
        kubeconfig: str | None = KUBECONFIG,
        context: str | None = CONTEXT,
        output: OutputFormat = typer.Option(OutputFormat.TEXT, "--output", "-o", help=LOG_HELP),
    ) -> None:
        """Run the leader-elected controller for every ModelRollout it can see."""
        with logging_to_stderr(output):
            # Controller mode: a rollout may not make the controller read files by path,
            # unless MLROLLOUT_ALLOW_KEY_FILES says so.
            allow_key_files = EnvironmentSettings.from_environment().key_files_allowed(
                default=False
            )
            library = load_paths(template_files(list(templates or []))).templates
            clock = SystemClock()
            telemetry = Telemetry()
            # Bound first: a port in use is an option to change, reported before any request.
            try:
                health = HealthServer(
                    telemetry, host=health_host, port=health_port, ready=lambda: False
                )
            except OSError as exc:
                raise SpecError(
                    f"cannot listen on {health_host}:{health_port}: {exc.strerror or exc}",
                    path="--health-port",
                ) from None

            options = ClusterOptions(kubeconfig, context, None)
            try:
                with options.client() as client:
                    analyst_for = build_analyst_factory(
                        client, library if templates else None, now=clock.now
                    )
                    manager = Manager(
                        client,
                        ManagerSettings(
                            identity=holder or identity("mlrollout-controller"),
                            namespace=namespace,
                            lease_namespace=lease_namespace,
                            workers=workers,
                            allow_key_files=allow_key_files,
                        ),
                        analyst_for=analyst_for,
                        telemetry=telemetry,
                        clock=clock,
                    )
                    health.ready = manager.readiness
                    health.start()
                    logging.getLogger("mlrollout.controller").info(
                        "starting as %s: rollouts in %s, Lease %s/%s, health on %s:%d",
                        manager.settings.identity,
                        f"namespace {namespace}" if namespace else "every namespace",
                        manager.lease.namespace,
                        manager.lease.name,
                        health_host,
                        health.port,
                    )

                    def stop(signum: int, frame: FrameType | None) -> None:
                        manager.stop()

                    signal.signal(signal.SIGTERM, stop)
                    signal.signal(signal.SIGINT, stop)
                    code = manager.run()
            finally:
                health.stop()
            raise typer.Exit(code)
