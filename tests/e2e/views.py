"""Snapshots of the model Service's objects for the pure routing tests (no server).

Part of the e2e test bed (``tests/e2e``); ``test_dataplane`` feeds these ``ClusterView``s to
``routing.compute_routing``. The shapes follow what an API server stores: pods owned by
``m-<env>`` with labels ``app: m, env: <env>`` and a Ready condition, per-environment Services
``m-<env>`` selecting them, Deployments with those template labels.
"""

from __future__ import annotations

from typing import Any

from .cluster import SERVICE
from .routing import ClusterView

__all__ = ["ENVS", "compose_pod", "compose_view"]

ENVS = ("blue", "green")


def compose_pod(env: str, index: int, *, ready: bool) -> dict[str, Any]:
    """Pod ``index`` of environment ``env``, Ready or not."""
    return {
        "metadata": {
            "name": f"{SERVICE}-{env}-{index}",
            "labels": {"app": SERVICE, "env": env, "pod-template-hash": "h"},
            "ownerReferences": [
                {"kind": "Deployment", "name": f"{SERVICE}-{env}", "controller": True}
            ],
        },
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def compose_view(
    selector: dict[str, str] | None,
    *,
    ready: dict[str, int],
    unready: int = 1,
    route_rules: list[dict[str, Any]] | None = None,
) -> ClusterView:
    """The objects with the model Service selecting ``selector`` (None: no Service), ``ready``
    ready pods per environment plus ``unready`` unready ones each, and a route when given."""
    labels = {env: {"app": SERVICE, "env": env} for env in ENVS}
    services = {f"{SERVICE}-{env}": {"spec": {"selector": labels[env]}} for env in ENVS}
    if selector is not None:
        services[SERVICE] = {"spec": {"selector": selector}}
    deployments = {
        f"{SERVICE}-{env}": {"spec": {"template": {"metadata": {"labels": labels[env]}}}}
        for env in ENVS
    }
    pods = [compose_pod(env, i, ready=True) for env in ENVS for i in range(ready.get(env, 0))]
    pods += [compose_pod(env, 100 + i, ready=False) for env in ENVS for i in range(unready)]
    route = {"spec": {"rules": route_rules}} if route_rules is not None else None
    return ClusterView(services=services, deployments=deployments, pods=pods, route=route)
