"""A model Service on the real control plane for the router tests: two GPU Deployments on a
kwok GPU node, Services, a route, and the router's own client.

Each test has a namespace of its own (``controlplane.fixtures.TestBed``): model Service
``m``, Deployments ``m-blue`` / ``m-green`` (label ``env``, pods that pass the restricted
Pod Security profile, one ``nvidia.com/gpu`` each unless told otherwise) on a kwok node of
the namespace's pool, per-environment Services ``m-blue`` / ``m-green`` and an HTTPRoute
``m`` for the gateway router. The test sets the cluster up as cluster admin; the router
under test talks as the controller's ServiceAccount, bound only to the shipped RBAC, through
a fault proxy, so its writes are the ones of that user in the audit log.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from controlplane.faults import FaultProxy
from controlplane.fixtures import TestBed
from controlplane.workloads import POOL_LABEL, gpu_node, service
from mlrollout.kube import KubeClient
from mlrollout.kube.environments import GpuEnvironments, assess_readiness
from mlrollout.kube.kinds import DEPLOYMENTS, HTTPROUTES, NODES, SERVICES
from mlrollout.spec.status import EnvName

IMAGE = "registry.example.com/ml/m@sha256:" + "a" * 64
DEPLOYMENT_NAMES: dict[EnvName, str] = {"blue": "m-blue", "green": "m-green"}
NODE_GPUS = 16  # one node: room for both environments at full size and a surge
NOWHERE = "nowhere"  # a node pool with no nodes


@dataclass
class World:
    """One test's model Service: the namespace, the admin and the router's client."""

    bed: TestBed
    proxy: FaultProxy
    client: KubeClient  # the router's: the controller's ServiceAccount, through ``proxy``

    @property
    def ns(self) -> str:
        """The test's namespace."""
        return self.bed.namespace

    @property
    def admin(self) -> KubeClient:
        """Cluster admin, for setting the scene."""
        return self.bed.admin

    @property
    def router_user(self) -> str:
        """Who the router's writes are in the audit log."""
        return self.bed.controller_user


def open_world(bed: TestBed, sleep: Any) -> World:
    """A kwok GPU node in ``bed``'s pool, a fault proxy and the router's client (whose
    retries call ``sleep`` instead of sleeping)."""
    bed.admin.create(NODES, gpu_node(f"{bed.namespace}-gpu-0", pool=bed.namespace, gpus=NODE_GPUS))
    proxy = bed.fault_proxy()
    client = bed.controller_client(through=proxy)
    client.sleep = sleep
    return World(bed, proxy, client)


def deployment(env: str, *, ns: str, replicas: int, gpus: int = 1) -> dict[str, Any]:
    """A GPU Deployment of environment ``env`` on the node pool of ``ns``."""
    labels = {"app": "m", "env": env}
    hardened = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"m-{env}", "namespace": ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {POOL_LABEL: ns},
                    "containers": [
                        {
                            "name": "model",
                            "image": IMAGE,
                            "env": [{"name": "LOG_LEVEL", "value": "info"}],
                            "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                            "securityContext": hardened,
                        }
                    ],
                },
            },
        },
    }


def http_route(ns: str, backends: list[dict[str, Any]]) -> dict[str, Any]:
    """HTTPRoute ``m`` with one rule (path prefix ``/``) and the given ``backendRefs``."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "m", "namespace": ns},
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
    world: World, *, blue: int, green: int, blue_gpus: int = 1, green_gpus: int = 1
) -> GpuEnvironments:
    """Create both Deployments; the router's handle on them."""
    for env, replicas, gpus in (("blue", blue, blue_gpus), ("green", green, green_gpus)):
        body = deployment(env, ns=world.ns, replicas=replicas, gpus=gpus)
        world.admin.create(DEPLOYMENTS, body, world.ns)
    return GpuEnvironments(world.client, namespace=world.ns, deployments=DEPLOYMENT_NAMES)


def create_selector_service(world: World, selector: dict[str, str]) -> None:
    """The model Service ``m``."""
    world.admin.create(SERVICES, service("m", world.ns, selector), world.ns)


def create_env_services(world: World) -> None:
    """The per-environment Services ``m-blue`` and ``m-green``."""
    for env in ("blue", "green"):
        body = service(f"m-{env}", world.ns, {"app": "m", "env": env})
        world.admin.create(SERVICES, body, world.ns)


def create_gateway_objects(world: World, backends: list[dict[str, Any]]) -> None:
    """Per-environment Services and the HTTPRoute."""
    create_env_services(world)
    world.admin.create(HTTPROUTES, http_route(world.ns, backends), world.ns)


def hold_never_ready(world: World, env: EnvName) -> None:
    """Make ``env`` never ready again: recreate its pods on a node pool with no nodes, so
    the real scheduler cannot place them (old pods go first: ``Recreate``)."""
    nowhere = {
        "spec": {
            "strategy": {"type": "Recreate", "rollingUpdate": None},
            "template": {"spec": {"nodeSelector": {POOL_LABEL: NOWHERE}}},
        }
    }
    world.admin.patch(DEPLOYMENTS, DEPLOYMENT_NAMES[env], world.ns, nowhere)


def settle(
    world: World, never_ready: Iterable[str] = (), *, timeout: float = 60.0
) -> dict[str, dict[str, Any]]:
    """Wait until the Deployment controller, the scheduler and kwok have caught up with both
    Deployments (``never_ready`` ones with no available pod)."""
    stuck = set(never_ready)
    deadline = time.monotonic() + timeout
    while True:
        current = {
            env: world.admin.get(DEPLOYMENTS, name, world.ns)
            for env, name in DEPLOYMENT_NAMES.items()
        }
        done = True
        for env, obj in current.items():
            r = assess_readiness(obj)
            want = 0 if env in stuck else r.desired
            done = done and r.observed and r.current == r.desired and r.available == want
            done = done and (env in stuck or r.updated == r.desired)
        if done:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"deployments did not settle: {current}")
        time.sleep(0.1)
