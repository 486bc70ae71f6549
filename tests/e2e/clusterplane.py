"""The e2e data plane on the real control plane: kwok pods mapped to local model servers.

Part of the e2e test bed (``tests/e2e``), on ``dataplane.RoutedPlane`` (the routing table and
its time series). ``ClusterDataPlane`` follows a real kube-apiserver (``tests/controlplane``)
through its own ``KubeClient`` (a client of its own, so the controller's faults or Lease never
blind it, as a gateway keeps its configuration): it lists the namespace's Services,
Deployments, Pods and the HTTPRoute every ``poll_s`` seconds and recomputes the routing table
with ``routing.compute_routing`` when they changed. kwok runs no container: every ready kwok
pod of an environment is an endpoint served by that environment's one local model-server
process (``backends``), so a request routed to an environment goes to its process with the
probability its ready pods (Service router) or its HTTPRoute weight give. ``pods()`` is the
last pod list read, for exporters that label series by pod (``exporters``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from mlrollout.errors import MlrolloutError
from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import DEPLOYMENTS, HTTPROUTES, PODS, SERVICES

from .dataplane import RoutedPlane
from .routing import ClusterView

__all__ = ["ClusterDataPlane"]


class ClusterDataPlane(RoutedPlane):
    """Routing kept current by polling the real API server through ``client``."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str,
        service: str,
        backends: Mapping[str, str],
        http_route: str | None = None,
        deployments: Mapping[str, str] | None = None,
        backend_services: Mapping[str, str] | None = None,
        poll_s: float = 0.25,
    ) -> None:
        self._client = client
        self._poll_s = poll_s
        self._pods: list[dict[str, Any]] = []
        self._last: ClusterView | None = None
        self._pods_lock = threading.Lock()
        super().__init__(
            namespace=namespace,
            service=service,
            backends=backends,
            http_route=http_route,
            deployments=deployments,
            backend_services=backend_services,
        )

    def start(self) -> ClusterDataPlane:
        """Poll the API server in a background thread."""
        super().start()
        return self

    def pods(self) -> list[dict[str, Any]]:
        """The namespace's pods as last read."""
        with self._pods_lock:
            return list(self._pods)

    def _read(self) -> ClusterView:
        namespace, client = self.topology.namespace, self._client

        def named(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
            return {o["metadata"]["name"]: o for o in items}

        route = None
        if self.topology.http_route is not None:
            routes = named(client.list(HTTPROUTES, namespace))
            route = routes.get(self.topology.http_route)
        pods = client.list(PODS, namespace)
        with self._pods_lock:
            self._pods = pods
        return ClusterView(
            services=named(client.list(SERVICES, namespace)),
            deployments=named(client.list(DEPLOYMENTS, namespace)),
            pods=pods,
            route=route,
        )

    def _view(self) -> ClusterView:
        if self._last is None:
            self._last = self._read()
        return self._last

    def _follow(self) -> None:
        while not self._stopping.wait(self._poll_s):
            try:
                view = self._read()
            except MlrolloutError:
                continue  # an API hiccup: keep routing by the last configuration read
            if view != self._last:
                self._last = view
                self._refresh()
