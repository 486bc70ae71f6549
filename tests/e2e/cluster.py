"""The model Service's objects, written through the official client into the test API server.

Part of the e2e test bed (``tests/e2e``); used by ``test_dataplane``. Namespace ``default``,
model Service ``m``, Deployments ``m-blue`` / ``m-green`` whose pods carry ``app: m`` and
``env: <env>``, per-environment Services ``m-blue`` / ``m-green`` and an HTTPRoute ``m``:
the names ``dataplane.DataPlane`` expects by convention. Every write is an ordinary API
request, so it lands in the server's write history and watch feed like a controller's.
"""

from __future__ import annotations

from typing import Any

import kubernetes

__all__ = ["NS", "SERVICE", "Cluster", "backend_ref", "route_rule"]

NS = "default"
SERVICE = "m"
_IMAGE = "registry.example.com/ml/m@sha256:" + "a" * 64
_GATEWAY = ("gateway.networking.k8s.io", "v1", NS, "httproutes")


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


def _as_model(body: dict[str, Any]) -> Any:
    # The client serialises plain dicts as they are; its typed signatures want its models.
    return body


class Cluster:
    """Writes the model Service's objects with the official Kubernetes client."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self.apps = kubernetes.client.AppsV1Api(api)
        self.core = kubernetes.client.CoreV1Api(api)
        self.custom = kubernetes.client.CustomObjectsApi(api)

    def add_deployment(self, env: str, *, replicas: int) -> None:
        """Deployment ``m-<env>`` with ``replicas`` pods labelled ``app: m, env: <env>``."""
        labels = {"app": SERVICE, "env": env}
        body: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{SERVICE}-{env}", "namespace": NS, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "model", "image": _IMAGE}]},
                },
            },
        }
        self.apps.create_namespaced_deployment(NS, _as_model(body))

    def add_service(self, name: str, selector: dict[str, str]) -> None:
        """A ClusterIP Service ``name`` on port 8080 selecting ``selector``."""
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 8080}]},
        }
        self.core.create_namespaced_service(NS, _as_model(body))

    def add_env_services(self) -> None:
        """The per-environment Services ``m-blue`` and ``m-green`` a route points at."""
        for env in ("blue", "green"):
            self.add_service(f"{SERVICE}-{env}", {"app": SERVICE, "env": env})

    def set_selector(self, selector: dict[str, str | None]) -> None:
        """Patch the model Service's selector (a ``None`` value removes that key)."""
        self.core.patch_namespaced_service(SERVICE, NS, {"spec": {"selector": selector}})

    def add_route(self, rules: list[dict[str, Any]]) -> None:
        """HTTPRoute ``m`` with ``rules``."""
        body = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": SERVICE, "namespace": NS},
            "spec": {"parentRefs": [{"name": "gateway"}], "rules": rules},
        }
        self.custom.create_namespaced_custom_object(*_GATEWAY, body)

    def fetch_route(self) -> dict[str, Any]:
        """HTTPRoute ``m`` as stored."""
        route = self.custom.get_namespaced_custom_object(*_GATEWAY, SERVICE)
        assert isinstance(route, dict)
        return route

    def replace_route(self, route: dict[str, Any]) -> None:
        """PUT ``route`` (its resourceVersion is the precondition), as the gateway router does."""
        self.custom.replace_namespaced_custom_object(*_GATEWAY, SERVICE, route)

    def set_route_rules(self, rules: list[dict[str, Any]]) -> None:
        """Replace the route's rules in one merge patch."""
        self.custom.patch_namespaced_custom_object(*_GATEWAY, SERVICE, {"spec": {"rules": rules}})
