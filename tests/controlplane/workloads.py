"""What a test puts on the real control plane: kwok GPU nodes in a pool of its own, and the
blue/green GPU Deployments and Service of a model, shaped like the examples' environments.

Part of the ``controlplane`` test package. Each test gets its own node pool (a label the
Deployments select), so the capacity gate and the scheduler see only that test's GPUs even
though nodes are cluster-wide.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from mlrollout.kube import KubeClient
from mlrollout.kube.environments import assess_readiness
from mlrollout.kube.kinds import DEPLOYMENTS, HTTPROUTES, NODES, PODS, SERVICES, Kind
from support.cluster import OLD, template

from .cluster import KWOK_ANNOTATION

__all__ = [
    "POOL_LABEL",
    "build_model",
    "build_route",
    "deployment",
    "gpu_node",
    "service",
    "wait_until",
]

POOL_LABEL = "mlrollout.test/pool"


def gpu_node(name: str, *, pool: str, gpus: int, cpu: int = 32) -> dict[str, Any]:
    """A Node kwok manages, with ``gpus`` allocatable ``nvidia.com/gpu``."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake"},
            "labels": {POOL_LABEL: pool, "type": "kwok"},
        },
        "status": {
            "allocatable": {
                "cpu": str(cpu),
                "memory": "256Gi",
                "pods": "110",
                "nvidia.com/gpu": str(gpus),
            }
        },
    }


def deployment(
    env: str,
    *,
    namespace: str,
    pool: str,
    replicas: int,
    image: str = OLD,
    app: str = "fraud-scorer",
) -> dict[str, Any]:
    """The GPU Deployment ``<app>-<env>`` of a model (restricted-profile pod template
    labelled ``app``/``env``) on ``pool``."""
    pod = copy.deepcopy(template(env, image))
    labels = {"app": app, "env": env}
    pod["metadata"]["labels"] = labels
    pod["spec"]["nodeSelector"] = {POOL_LABEL: pool}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"{app}-{env}", "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": pod},
    }


def build_model(
    admin: KubeClient,
    namespace: str,
    *,
    nodes: int = 2,
    gpus_per_node: int = 4,
    cpu_per_node: int = 32,
    blue: int = 4,
) -> None:
    """Nodes of the test's pool, the blue (``blue`` replicas) and green (0) Deployments and
    the model Service; waits until blue is ready."""
    for i in range(nodes):
        name = f"{namespace}-gpu-{i}"
        node = gpu_node(name, pool=namespace, gpus=gpus_per_node, cpu=cpu_per_node)
        admin.create(NODES, node)
    for env, replicas in (("blue", blue), ("green", 0)):
        admin.create(
            DEPLOYMENTS,
            deployment(env, namespace=namespace, pool=namespace, replicas=replicas),
            namespace,
        )
    admin.create(SERVICES, service("fraud-scorer", namespace, {"app": "fraud-scorer"}), namespace)
    wait_until(
        lambda: (
            assess_readiness(admin.get(DEPLOYMENTS, "fraud-scorer-blue", namespace)).healthy
            and len(admin.list(PODS, namespace)) == blue
        ),
        what="blue Deployment ready on kwok nodes",
    )


def service(name: str, namespace: str, selector: dict[str, str]) -> dict[str, Any]:
    """A Service ``name`` on port 8080 (named ``http``) selecting ``selector``."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": 8080}]},
    }


def route_objects(namespace: str, app: str = "fraud-scorer") -> list[tuple[Kind, dict[str, Any]]]:
    """For the Gateway API router: a Service per environment and the HTTPRoute ``app``
    sending everything to blue's, in the order to create them."""
    objects: list[tuple[Kind, dict[str, Any]]] = [
        (SERVICES, service(f"{app}-{env}", namespace, {"app": app, "env": env}))
        for env in ("blue", "green")
    ]
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": app, "namespace": namespace},
        "spec": {
            "parentRefs": [{"name": "ml-gateway"}],
            "rules": [{"backendRefs": [{"name": f"{app}-blue", "port": 8080, "weight": 100}]}],
        },
    }
    objects.append((HTTPROUTES, route))
    return objects


def build_route(admin: KubeClient, namespace: str, app: str = "fraud-scorer") -> None:
    """Create :func:`route_objects`."""
    for kind, obj in route_objects(namespace, app):
        admin.create(kind, obj, namespace)


def wait_until(condition: Any, *, what: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` (real time: the control plane runs on real time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
