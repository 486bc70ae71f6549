"""Harnesses: each router with its "cluster", so one contract suite can drive them all.

A harness builds a router in a state where ``blue`` is live with available pods, knows the
weights its router can express, can make the canary never ready, inject write failures,
wait for the cluster to settle, and check every router write it has seen: the weights sum
to 100 and no weight goes to an environment with no available replicas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeapi import KubeApiServer, WriteRecord, assert_valid_history
from mlrollout.errors import ApiUnavailableError
from mlrollout.kube import KubeClient
from mlrollout.kube.environments import assess_readiness
from mlrollout.kube.kinds import HTTPROUTES
from mlrollout.spec.status import EnvName, TrafficSplit
from mlrollout.spec.strategy import CapacityMode
from mlrollout.traffic import (
    FakeRouter,
    GatewayApiRouter,
    ReplicasRouter,
    ServiceSelectorRouter,
    TrafficRouter,
)
from mlrollout.traffic.httproute import HEADER_RULE_NAME

from . import world


def split(weight: float, stable: EnvName = "blue") -> TrafficSplit:
    """``weight`` percent to the other environment."""
    canary: EnvName = "green" if stable == "blue" else "blue"
    return TrafficSplit(stable_env=stable, canary_env=canary, canary_weight=weight)


@dataclass
class Harness:
    """A router under test and the hooks the contract suite needs."""

    name: str
    router: TrafficRouter
    weights: list[float]
    make_never_ready: Callable[[EnvName], None]
    fail_writes: Callable[[], None]
    clear_faults: Callable[[], None]
    settle: Callable[[], None]
    extras: Callable[[], bool]
    check_writes: Callable[[], list[str]]
    stuck: set[str] = field(default_factory=set)


# -- fake ------------------------------------------------------------------------------


def fake_harness() -> Harness:
    """``FakeRouter`` with two available pods per environment and extras."""
    router = FakeRouter(available={"blue": 2, "green": 2})

    def never_ready(env: EnvName) -> None:
        router.available[env] = 0

    def check() -> list[str]:
        problems = []
        for weights, available in router.writes:
            problems += _assess_weights(weights, available, f"fake write {weights}")
        return problems

    return Harness(
        name="fake",
        router=router,
        weights=[0.5, 5.0, 50.0, 100.0],
        make_never_ready=never_ready,
        fail_writes=lambda: router.fail_next(ApiUnavailableError("injected"), times=10),
        clear_faults=router.errors.clear,
        settle=lambda: None,
        extras=lambda: router.extras,
        check_writes=check,
    )


def _assess_weights(weights: dict[str, float], available: dict[str, int], where: str) -> list[str]:
    problems = []
    if round(sum(weights.values()), 6) != 100:
        problems.append(f"{where}: weights {weights} do not sum to 100")
    for env, weight in weights.items():
        if weight > 0 and available.get(env, 0) <= 0:
            problems.append(f"{where}: {weight}% to {env}, which has no available replicas")
    return problems


# -- the test API server ---------------------------------------------------------------


def _available_by_env(state: dict[str, dict[str, Any]]) -> dict[str, int]:
    by_name = {name: env for env, name in world.DEPLOYMENT_NAMES.items()}
    return {by_name[name]: assess_readiness(obj).available for name, obj in state.items()}


def _replay(
    server: KubeApiServer, kind: str, assess: Callable[[WriteRecord, dict[str, int]], list[str]]
) -> list[str]:
    """Check each client write of ``kind`` against the Deployments' state at that moment."""
    state: dict[str, dict[str, Any]] = {}
    problems = []
    for record in server.history.records():
        if record.kind == "Deployment":
            state[record.name] = record.object
        if record.kind == kind and record.actor == "client" and record.verb != "POST":
            problems += assess(record, _available_by_env(state))
    return problems


def _selector_write(record: WriteRecord, available: dict[str, int]) -> list[str]:
    env = record.object["spec"]["selector"].get("env")
    return _assess_weights({env: 100.0}, available, f"Service write rv={record.resource_version}")


def _route_write(record: WriteRecord, available: dict[str, int]) -> list[str]:
    where = f"HTTPRoute write rv={record.resource_version}"
    rules = record.object["spec"]["rules"]
    refs = rules[0]["backendRefs"]
    if sum(r["weight"] for r in refs) != 10_000 or len(refs) != 2:
        return [f"{where}: backendRefs {refs} do not carry 10000 basis points in two refs"]
    weights = {r["name"].removeprefix("m-"): r["weight"] / 100 for r in refs}
    problems = _assess_weights(weights, available, where)
    extra_targets = [
        f["requestMirror"]["backendRef"]["name"] for f in rules[0].get("filters") or []
    ] + [r["backendRefs"][0]["name"] for r in rules if r.get("name") == HEADER_RULE_NAME]
    for target in extra_targets:
        if available.get(target.removeprefix("m-"), 0) <= 0:
            problems.append(f"{where}: extras send traffic to {target} with no available pod")
    return problems


def _replicas_write(record: WriteRecord, available: dict[str, int]) -> list[str]:
    # After this write, the pods that can serve are the available ones the spec keeps.
    env = record.name.removeprefix("m-")
    serving = dict(available)
    serving[env] = min(serving.get(env, 0), int(record.object["spec"]["replicas"]))
    if sum(serving.values()) <= 0:
        return [f"Deployment write {record.name} rv={record.resource_version}: no pod serves"]
    return []


def _server_hooks(
    server: KubeApiServer, kube: KubeClient, stuck: set[str], *, verb: str, path: str
) -> dict[str, Callable[..., Any]]:
    def never_ready(env: EnvName) -> None:
        server.deployments.set_never_ready(world.NS, world.DEPLOYMENT_NAMES[env])
        stuck.add(env)
        world.settle(kube, stuck)

    return {
        "make_never_ready": never_ready,
        "fail_writes": lambda: server.faults.add(
            verb=verb, path_regex=path, times=None, status=500
        ),
        "clear_faults": server.faults.clear,
        "settle": lambda: world.settle(kube, stuck),
    }


def selector_harness(server: KubeApiServer, kube: KubeClient) -> Harness:
    """Service selector router; both environments run two pods, the Service selects blue."""
    envs = world.create_environments(kube, blue=2, green=2)
    world.create_selector_service(kube, {"app": "m", "env": "blue"})
    world.settle(kube)
    router = ServiceSelectorRouter(kube, namespace=world.NS, service="m", environments=envs)
    stuck: set[str] = set()
    return Harness(
        name="selector",
        router=router,
        weights=[100.0],
        extras=lambda: False,
        check_writes=lambda: _replay(server, "Service", _selector_write),
        stuck=stuck,
        **_server_hooks(server, kube, stuck, verb="PATCH", path=r"/services/m$"),
    )


def replicas_harness(server: KubeApiServer, kube: KubeClient, mode: CapacityMode) -> Harness:
    """Replica router; blue runs four pods, green none, the Service selects both."""
    envs = world.create_environments(kube, blue=4, green=0)
    world.create_selector_service(kube, {"app": "m"})
    world.settle(kube)
    router = ReplicasRouter(kube, namespace=world.NS, service="m", environments=envs, capacity=mode)
    stuck: set[str] = set()
    return Harness(
        name=f"replicas-{mode}",
        router=router,
        weights=[5.0, 25.0, 50.0, 100.0],
        extras=lambda: False,
        check_writes=lambda: _replay(server, "Deployment", _replicas_write),
        stuck=stuck,
        **_server_hooks(server, kube, stuck, verb="PATCH", path=r"/deployments/m-"),
    )


def gateway_harness(server: KubeApiServer, kube: KubeClient) -> Harness:
    """Gateway API router with a header route and a mirror; the route starts on blue only."""
    envs = world.create_environments(kube, blue=2, green=2)
    world.create_gateway_objects(kube, [{"name": "m-blue", "port": 8080}])
    world.settle(kube)
    router = GatewayApiRouter(
        kube,
        namespace=world.NS,
        service="m",
        environments=envs,
        route="m",
        headers={"x-canary": "always"},
        mirror=True,
    )
    stuck: set[str] = set()

    def extras() -> bool:
        rules = kube.get(HTTPROUTES, "m", world.NS)["spec"]["rules"]
        return len(rules) > 1 or bool(rules[0].get("filters"))

    return Harness(
        name="gateway",
        router=router,
        weights=[0.5, 10.0, 50.0, 100.0],
        extras=extras,
        check_writes=lambda: _replay(server, "HTTPRoute", _route_write),
        stuck=stuck,
        **_server_hooks(server, kube, stuck, verb="PUT", path=r"/httproutes/m$"),
    )


def assert_server_history(server: KubeApiServer, harness: Harness) -> None:
    """Every router write kept the invariants and every written object is valid."""
    problems = harness.check_writes()
    assert not problems, "\n".join(problems)
    assert_valid_history(server)
