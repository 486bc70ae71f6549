"""``mlrollout controller``: run the in-cluster manager (leader-elected) in the foreground.

Part of the ``cli`` layer. Wires the manager with the analysis templates, a Prometheus
provider per rollout, the health endpoint and logging, and exits 1 when the Lease is lost
(Kubernetes restarts the Pod, which stands by until it leads again).
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from types import FrameType

import typer

from mlrollout.cli.cluster import CONTEXT, KUBECONFIG, ClusterOptions
from mlrollout.cli.lint import template_files
from mlrollout.clock import SystemClock
from mlrollout.controller.analyst import MetricsAnalyst
from mlrollout.controller.driver import identity
from mlrollout.controller.manager import Manager, ManagerSettings
from mlrollout.controller.ports import Analyst
from mlrollout.controller.telemetry import HealthServer, Telemetry
from mlrollout.metrics.registry import build_cluster_providers
from mlrollout.redaction import install_log_redaction
from mlrollout.spec import ModelRollout, load_paths
from mlrollout.spec.scope import ENV_ALLOW_KEY_FILES

__all__ = ["register"]


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
            8080, "--health-port", help="Port of /healthz, /readyz and /metrics (0: any free port)."
        ),
        health_host: str = typer.Option(
            "0.0.0.0", "--health-host", help="Address the health endpoint binds."
        ),
        templates: list[Path] = typer.Option(
            None, "--templates", "-t", help="AnalysisTemplate directory (repeatable)."
        ),
        holder: str | None = typer.Option(
            None, "--identity", help="Lease holder identity (default: host-pid)."
        ),
        kubeconfig: str | None = KUBECONFIG,
        context: str | None = CONTEXT,
    ) -> None:
        """Run the leader-elected controller for every ModelRollout it can see."""
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        install_log_redaction()
        # Controller mode: a rollout may not make the controller read files by path.
        os.environ.setdefault(ENV_ALLOW_KEY_FILES, "false")
        library = load_paths(template_files(list(templates or []))).templates
        clock = SystemClock()

        def analyst_for(rollout: ModelRollout) -> Analyst | None:
            if rollout.spec.analysis is None:
                return None
            config = rollout.spec.metrics.prometheus if rollout.spec.metrics else None
            return MetricsAnalyst(build_cluster_providers(config), library, now=clock.now)

        options = ClusterOptions(kubeconfig, context, None)
        telemetry = Telemetry()
        with options.client() as client:
            manager = Manager(
                client,
                ManagerSettings(
                    identity=holder or identity("mlrollout-controller"),
                    namespace=namespace,
                    lease_namespace=lease_namespace,
                    workers=workers,
                ),
                analyst_for=analyst_for,
                telemetry=telemetry,
                clock=clock,
            )
            health = HealthServer(
                telemetry, host=health_host, port=health_port, ready=manager.readiness
            ).start()

            def stop(signum: int, frame: FrameType | None) -> None:
                manager.stop()

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            try:
                code = manager.run()
            finally:
                health.stop()
        raise typer.Exit(code)
