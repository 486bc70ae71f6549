"""``build_router``: the ``TrafficRouter`` a ModelRollout's spec asks for.

Part of the ``traffic`` layer; the one place that maps ``spec.strategy.traffic.router`` to
an implementation (``selector``, ``replicas``, ``gateway``). An unknown router is a
``SpecError`` here, never a silent default.
"""

from __future__ import annotations

from mlrollout.errors import SpecError
from mlrollout.kube import KubeClient
from mlrollout.kube.environments import GpuEnvironments
from mlrollout.spec import ModelRollout
from mlrollout.spec.strategy import CapacityMode, RouterKind
from mlrollout.traffic.gateway import GatewayApiRouter
from mlrollout.traffic.port import TrafficRouter
from mlrollout.traffic.replicas import ReplicasRouter
from mlrollout.traffic.selector import ServiceSelectorRouter

__all__ = ["build_environments", "build_router"]


def build_environments(client: KubeClient, rollout: ModelRollout) -> GpuEnvironments:
    """The blue and green Deployments of ``rollout``."""
    envs = rollout.spec.environments
    return GpuEnvironments(
        client,
        namespace=rollout.namespace,
        deployments={"blue": envs.blue.deployment, "green": envs.green.deployment},
        containers={"blue": envs.blue.container, "green": envs.green.container},
    )


def build_router(
    client: KubeClient, rollout: ModelRollout, environments: GpuEnvironments | None = None
) -> TrafficRouter:
    """The router of ``rollout``'s strategy, bound to its Service and to ``environments``
    (by default built here: a caller that also drives the Deployments passes its own)."""
    strategy = rollout.spec.strategy
    traffic = strategy.traffic
    environments = environments or build_environments(client, rollout)
    namespace, service = rollout.namespace, rollout.spec.service
    if traffic.router is RouterKind.SERVICE_SELECTOR:
        return ServiceSelectorRouter(
            client, namespace=namespace, service=service, environments=environments
        )
    if traffic.router is RouterKind.REPLICAS:
        capacity = strategy.canary.capacity if strategy.canary else CapacityMode.CONSTANT
        return ReplicasRouter(
            client,
            namespace=namespace,
            service=service,
            environments=environments,
            capacity=capacity,
        )
    if traffic.router is RouterKind.GATEWAY_API and traffic.http_route is not None:
        route = traffic.http_route
        return GatewayApiRouter(
            client,
            environments=environments,
            route=route.name,
            route_namespace=route.namespace,
            rule=route.rule,
            headers=traffic.header_route.headers if traffic.header_route else None,
            mirror=traffic.mirror,
            namespace=namespace,
            service=service,
        )
    raise SpecError(f"unknown traffic router {traffic.router!r}", path="strategy.traffic.router")
