"""A fleet of models on the real control plane: N model Services in one namespace, each with
blue/green GPU Deployments of kwok pods, per-environment Services, an HTTPRoute and a
ModelRollout that shifts traffic through it.

Part of the ``controlplane`` test package, used by ``benchmarks/reliability_scale.py``. The
rollouts skip analysis (no ``analyze`` steps, no ``spec.analysis``) and the signature gate
(no registry): what is measured is the controller's own work — watches, the work queue,
reconcile passes, Deployment and HTTPRoute writes, the pod-security and GPU-capacity gates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import kubernetes

from mlrollout.errors import ConflictError
from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import DEPLOYMENTS, MODELROLLOUTS, NODES, SERVICES, Kind

from .workloads import deployment, gpu_node, route_objects, service

__all__ = ["Fleet", "FleetShape", "create_namespace"]

RELEASE = "registry.test/ml/model@sha256:" + "1" * 64
MODEL_SHA = "ab" * 32
PODS_PER_NODE = 100  # below the 110 pods a kwok node advertises


@dataclass(frozen=True)
class FleetShape:
    """How big each model is and how its rollout moves traffic."""

    models: int
    replicas: int = 1
    weights: tuple[int, ...] = (25, 50, 75)
    pause_s: int = 0  # a pause of this many seconds after each weight (0: none)

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The canary steps of every rollout."""
        out: list[dict[str, Any]] = []
        for weight in self.weights:
            out.append({"setWeight": weight})
            if self.pause_s:
                out.append({"pause": {"duration": f"{self.pause_s}s"}})
        return out

    @property
    def nodes(self) -> int:
        """kwok nodes for every model's blue and green pods at once, plus a spare."""
        pods = 2 * self.models * self.replicas
        return -(-pods // PODS_PER_NODE) + 1


def create_namespace(api: kubernetes.client.ApiClient, name: str) -> None:
    """A namespace enforcing the restricted Pod Security Standard."""
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    kubernetes.client.CoreV1Api(api).create_namespace(
        {"metadata": {"name": name, "labels": labels}}
    )


class Fleet:
    """The models ``m0 … m{N-1}`` of ``namespace`` on the node pool named after it."""

    def __init__(self, admin: KubeClient, namespace: str, shape: FleetShape) -> None:
        self.admin = admin
        self.namespace = namespace
        self.shape = shape

    @property
    def names(self) -> list[str]:
        """The model (and rollout) names."""
        return [f"m{i}" for i in range(self.shape.models)]

    def _create(self, kind: Kind, obj: dict[str, Any], namespace: str | None = None) -> None:
        """Create ``obj``; already there is fine (a create retried after its answer was lost
        on the loaded API server finds the object the first attempt made)."""
        with contextlib.suppress(ConflictError):
            self.admin.create(kind, obj, namespace)

    def _parallel(self, fn: Callable[[str], object], items: Iterable[str]) -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in pool.map(fn, items):
                pass

    def build(self) -> None:
        """Nodes, then every model's Deployments (blue live), Services and HTTPRoute."""
        pool = self.namespace
        for i in range(self.shape.nodes):
            node = gpu_node(f"{pool}-gpu-{i}", pool=pool, gpus=PODS_PER_NODE, cpu=PODS_PER_NODE)
            node["status"]["allocatable"]["memory"] = f"{4 * PODS_PER_NODE}Gi"
            self._create(NODES, node)
        self._parallel(self._build_model, self.names)

    def _build_model(self, name: str) -> None:
        ns = self.namespace
        for env, replicas in (("blue", self.shape.replicas), ("green", 0)):
            built = deployment(env, namespace=ns, pool=ns, replicas=replicas, app=name)
            self._create(DEPLOYMENTS, built, ns)
        self._create(SERVICES, service(name, ns, {"app": name}), ns)
        for kind, obj in route_objects(ns, app=name):
            self._create(kind, obj, ns)

    def blue_ready(self) -> int:
        """How many blue Deployments report every replica available."""
        ready = 0
        for d in self.admin.list(DEPLOYMENTS, self.namespace):
            status = d.get("status") or {}
            if d["metadata"]["name"].endswith("-blue") and (
                int(status.get("availableReplicas") or 0) >= self.shape.replicas
            ):
                ready += 1
        return ready

    def rollout(self, name: str) -> dict[str, Any]:
        """The ModelRollout of model ``name``: canary through its HTTPRoute, no analysis."""
        return {
            "apiVersion": "mlrollout.io/v1alpha1",
            "kind": "ModelRollout",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {
                "service": name,
                "environments": {
                    "blue": {"deployment": f"{name}-blue"},
                    "green": {"deployment": f"{name}-green"},
                },
                "release": {
                    "image": RELEASE,
                    "model": {"uri": f"s3://models/{name}/2", "sha256": MODEL_SHA},
                },
                "strategy": {
                    "canary": {
                        "traffic": {"router": "gateway-api", "httpRoute": {"name": name}},
                        "steps": self.shape.steps,
                    }
                },
                "gates": {"podSecurity": "restricted", "gpuCapacity": True},
            },
        }

    def start_rollouts(self) -> None:
        """Create every ModelRollout."""
        self._parallel(
            lambda name: self._create(MODELROLLOUTS, self.rollout(name), self.namespace),
            self.names,
        )

    def phases(self) -> dict[str, str]:
        """Each rollout's phase ("" before the controller wrote a status)."""
        return {
            r["metadata"]["name"]: str((r.get("status") or {}).get("phase") or "")
            for r in self.admin.list(MODELROLLOUTS, self.namespace)
        }
