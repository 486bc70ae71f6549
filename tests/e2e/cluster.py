"""The model Service's objects, written through the official client into a namespace of the
real control plane.

Part of the e2e test bed (``tests/e2e``); used by ``test_dataplane``. Model Service ``m``,
Deployments ``m-blue`` / ``m-green`` (restricted-profile GPU pods labelled ``app: m`` and
``env: <env>``, on the test's kwok node pool, ``controlplane.workloads``), per-environment
Services ``m-blue`` / ``m-green`` and an HTTPRoute ``m``: the names the data plane expects by
convention. Every write is an ordinary API request by the cluster admin, so it lands in the
audit log like a controller's. ``NS`` is the namespace of the pure routing tests' snapshots.
"""

from __future__ import annotations

from typing import Any

import kubernetes

from controlplane.workloads import deployment, gpu_node, service

__all__ = ["NS", "SERVICE", "Cluster", "backend_ref", "route_rule"]

NS = "default"
SERVICE = "m"
_GATEWAY = ("gateway.networking.k8s.io", "v1")


def backend_ref(env: str, weight: int | None = None) -> dict[str, Any]:
    """A ``backendRef`` to environment ``env``'s Service (with ``weight`` when given)."""
    ref: dict[str, Any] = {"name": f"{SERVICE}-{env}", "port": 8080}
    if weight is not None:
        ref["weight"] = weight
    return ref


def route_rule(**weights: int) -> dict[str, Any]:
    """A path-prefix ``/`` rule splitting by ``weights`` (env name -> weight)."""
    return {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [backend_ref(env, weight) for env, weight in weights.items()],
    }


class Cluster:
    """Writes the model Service's objects in ``namespace`` with the official client; its
    Deployments go to kwok nodes of the pool named after the namespace (``add_nodes``)."""

    def __init__(self, api: kubernetes.client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.apps = kubernetes.client.AppsV1Api(api)
        self.core = kubernetes.client.CoreV1Api(api)
        self.custom = kubernetes.client.CustomObjectsApi(api)

    def add_nodes(self, count: int = 2, *, gpus: int = 4) -> None:
        """``count`` kwok GPU nodes in the namespace's pool."""
        for i in range(count):
            node = gpu_node(f"{self.namespace}-gpu-{i}", pool=self.namespace, gpus=gpus)
            self.core.create_node(node)

    def add_deployment(self, env: str, *, replicas: int, schedulable: bool = True) -> None:
        """Deployment ``m-<env>`` with ``replicas`` pods labelled ``app: m, env: <env>``;
        unless ``schedulable``, its pods select a node pool that has no node (they stay
        Pending, never ready)."""
        pool = self.namespace if schedulable else f"{self.namespace}-nowhere"
        body = deployment(env, namespace=self.namespace, pool=pool, replicas=replicas, app=SERVICE)
        self.apps.create_namespaced_deployment(self.namespace, body)

    def add_service(self, name: str, selector: dict[str, str]) -> None:
        """A ClusterIP Service ``name`` on port 8080 selecting ``selector``."""
        self.core.create_namespaced_service(self.namespace, service(name, self.namespace, selector))

    def add_env_services(self) -> None:
        """The per-environment Services ``m-blue`` and ``m-green`` a route points at."""
        for env in ("blue", "green"):
            self.add_service(f"{SERVICE}-{env}", {"app": SERVICE, "env": env})

    def set_selector(self, selector: dict[str, str | None]) -> None:
        """Patch the model Service's selector (a ``None`` value removes that key)."""
        self.core.patch_namespaced_service(
            SERVICE, self.namespace, {"spec": {"selector": selector}}
        )

    def add_route(self, rules: list[dict[str, Any]]) -> None:
        """HTTPRoute ``m`` with ``rules``."""
        body = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": SERVICE, "namespace": self.namespace},
            "spec": {"parentRefs": [{"name": "gateway"}], "rules": rules},
        }
        self.custom.create_namespaced_custom_object(*_GATEWAY, self.namespace, "httproutes", body)

    def fetch_route(self) -> dict[str, Any]:
        """HTTPRoute ``m`` as stored."""
        route = self.custom.get_namespaced_custom_object(
            *_GATEWAY, self.namespace, "httproutes", SERVICE
        )
        assert isinstance(route, dict)
        return route

    def replace_route(self, route: dict[str, Any]) -> None:
        """PUT ``route`` (its resourceVersion is the precondition), as the gateway router does."""
        self.custom.replace_namespaced_custom_object(
            *_GATEWAY, self.namespace, "httproutes", SERVICE, route
        )

    def set_route_rules(self, rules: list[dict[str, Any]]) -> None:
        """Replace the route's rules in one merge patch."""
        self.custom.patch_namespaced_custom_object(
            *_GATEWAY, self.namespace, "httproutes", SERVICE, {"spec": {"rules": rules}}
        )
