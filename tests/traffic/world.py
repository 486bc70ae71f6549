"""Objects of a model Service in the test API server: two GPU Deployments, Services, a route.

Used by the router harnesses and tests. Namespace ``default``, model Service ``m``,
Deployments ``m-blue`` / ``m-green`` (label ``env``), per-environment Services ``m-blue`` /
``m-green`` and an HTTPRoute ``m`` for the gateway router.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from mlrollout.kube import KubeClient
from mlrollout.kube.environments import GpuEnvironments, assess_readiness
from mlrollout.kube.kinds import DEPLOYMENTS, HTTPROUTES, SERVICES

NS = "default"
IMAGE = "registry.example.com/ml/m@sha256:" + "a" * 64
DEPLOYMENT_NAMES = {"blue": "m-blue", "green": "m-green"}


def deployment(env: str, *, replicas: int, gpus: int = 1) -> dict[str, Any]:
    """A GPU Deployment of environment ``env``."""
    labels = {"app": "m", "env": env}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"m-{env}", "namespace": NS, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "model",
                            "image": IMAGE,
                            "env": [{"name": "LOG_LEVEL", "value": "info"}],
                            "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                        }
                    ]
                },
            },
        },
    }


def service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    """A ClusterIP Service on port 8080."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": 8080}]},
    }


def http_route(backends: list[dict[str, Any]]) -> dict[str, Any]:
    """HTTPRoute ``m`` with one rule (path prefix ``/``) and the given ``backendRefs``."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "m", "namespace": NS},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": backends,
                }
            ],
        },
    }


def create_environments(
    kube: KubeClient, *, blue: int, green: int, blue_gpus: int = 1, green_gpus: int = 1
) -> GpuEnvironments:
    """Create both Deployments; the handle on them."""
    kube.create(DEPLOYMENTS, deployment("blue", replicas=blue, gpus=blue_gpus), NS)
    kube.create(DEPLOYMENTS, deployment("green", replicas=green, gpus=green_gpus), NS)
    return GpuEnvironments(kube, namespace=NS, deployments=DEPLOYMENT_NAMES)


def create_selector_service(kube: KubeClient, selector: dict[str, str]) -> None:
    """The model Service ``m``."""
    kube.create(SERVICES, service("m", selector), NS)


def create_gateway_objects(kube: KubeClient, backends: list[dict[str, Any]]) -> None:
    """Per-environment Services and the HTTPRoute."""
    for env in ("blue", "green"):
        kube.create(SERVICES, service(f"m-{env}", {"app": "m", "env": env}), NS)
    kube.create(HTTPROUTES, http_route(backends), NS)


def settle(
    kube: KubeClient, never_ready: Iterable[str] = (), *, timeout: float = 5.0
) -> dict[str, dict[str, Any]]:
    """Wait until the built-in controller has caught up with both Deployments."""
    stuck = set(never_ready)
    deadline = time.monotonic() + timeout
    while True:
        current = {env: kube.get(DEPLOYMENTS, name, NS) for env, name in DEPLOYMENT_NAMES.items()}
        done = True
        for env, obj in current.items():
            r = assess_readiness(obj)
            want = 0 if env in stuck else r.desired
            done = done and r.observed and r.current == r.desired and r.available == want
        if done:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"deployments did not settle: {current}")
        time.sleep(0.02)
