"""What serves a model around a namespace of the real control plane: one local model server
per environment, the data plane following the real API server, Prometheus scraping them.

Part of the e2e test bed (``tests/e2e``); used by ``test_examples_e2e`` and
``test_rollouts_e2e``. ``serving`` starts, for environments ``blue`` and ``green``, a
``ModelServer`` each (with that environment's ``Regressions``), one
``clusterplane.ClusterDataPlane`` per model Service named (through an admin client of its
own, so the controller's faults or RBAC never blind it), optionally the DCGM/Falcosidekick
stand-in (``exporters.PodSeriesExporter``) over the first plane's pods, and Prometheus
scraping all of them; a test starts its load with ``Serving.run_load`` so that everything
stops, in order, when the ``with`` block ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane.fixtures import TestBed
from mlrollout.kube import connect
from mlrollout.local import ModelServer, Regressions, ServerConfig
from support.prometheus import PrometheusServer, start_prometheus

from .clusterplane import ClusterDataPlane
from .exporters import PodSeriesExporter
from .load import LoadRun

__all__ = ["ENVS", "Serving", "serving"]

ENVS = ("blue", "green")


@dataclass
class Serving:
    """The running model servers, data planes (one per Service, the model Service first)
    and Prometheus; ``loads`` are stopped before anything else."""

    servers: dict[str, ModelServer]
    planes: list[ClusterDataPlane]
    prometheus: PrometheusServer
    loads: list[LoadRun] = field(default_factory=list)

    @property
    def plane(self) -> ClusterDataPlane:
        """The model Service's data plane."""
        return self.planes[0]

    def run_load(self, rps: float, duration_s: float, *, plane: int = 0, **options: Any) -> LoadRun:
        """Start load routed by ``planes[plane]`` (``ClusterDataPlane.run_load``'s options);
        it is stopped when the bed ends."""
        run = self.planes[plane].run_load(rps, duration_s, **options)
        self.loads.append(run)
        return run


@contextmanager
def serving(
    cp: TestBed,
    workdir: Path,
    *,
    regressions: Mapping[str, Regressions],
    services: Sequence[str],
    http_route: str | None = None,
    deployments: Mapping[str, str] | None = None,
    pod_series: bool = False,
) -> Iterator[Serving]:
    """Serve ``cp``'s namespace: model servers for ``ENVS`` (seeds 1, 2), a data plane per
    Service in ``services``, the pod-series exporter when ``pod_series``, and Prometheus
    (its files under ``workdir / "prom"``). Everything is stopped afterwards."""
    with ExitStack() as stack:
        servers = {}
        for seed, env in enumerate(ENVS, start=1):
            config = ServerConfig(environment=env, seed=seed, regressions=regressions[env])
            servers[env] = ModelServer(config).start()
            stack.callback(servers[env].stop)
        backends = {env: server.url for env, server in servers.items()}
        watcher = connect(kubeconfig=str(cp.session.plane.admin_kubeconfig), timeout=10.0)
        cp.clients.append(watcher)  # closed with the bed
        planes = []
        for service in services:
            plane = ClusterDataPlane(
                watcher,
                namespace=cp.namespace,
                service=service,
                backends=backends,
                http_route=http_route,
                deployments=deployments,
            ).start()
            stack.callback(plane.stop)
            planes.append(plane)
        targets = [url.removeprefix("http://") for url in backends.values()]
        if pod_series:
            exporter = PodSeriesExporter(planes[0].pods, namespace=cp.namespace)
            stack.callback(exporter.stop)
            targets.append(exporter.target)
        prometheus = start_prometheus(workdir / "prom", targets=targets)
        stack.callback(prometheus.stop)
        bed = Serving(servers, planes, prometheus)
        try:
            yield bed
        finally:
            for load in bed.loads:
                load.stop()
