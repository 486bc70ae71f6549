"""Harnesses: each router with its "cluster", so one contract suite can drive them all.

A harness builds a router in a state where ``blue`` is live with available pods, knows the
weights its router can express, can make the canary never ready, inject write failures,
wait for the cluster to settle, and check every router write it has seen: the weights sum
to 100 and no weight goes to an environment with no available replicas. The real routers'
cluster is the real control plane (``world``): their writes are read back from the API
server's audit log, a never-ready environment is one whose pods the scheduler cannot place,
and write failures come from the fault proxy in front of the API server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controlplane.audit import Request
from mlrollout.errors import ApiUnavailableError
from mlrollout.kube.environments import assess_readiness
from mlrollout.kube.kinds import HTTPROUTES
from mlrollout.spec.status import TOTAL_BASIS_POINTS, EnvName, TrafficSplit
from mlrollout.spec.strategy import CapacityMode
from mlrollout.traffic import (
    FakeRouter,
    GatewayApiRouter,
    ReplicasRouter,
    ServiceSelectorRouter,
    TrafficRouter,
)
from mlrollout.traffic.httproute import HEADER_RULE_NAME

from . import world as world_module
from .world import World


def split(weight: float, stable: EnvName = "blue") -> TrafficSplit:
    """``weight`` percent to the other environment."""
    canary: EnvName = "green" if stable == "blue" else "blue"
    return TrafficSplit(stable_env=stable, canary_env=canary, canaryWeight=weight)


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
    count_writes: Callable[[], int]  # the router's accepted writes so far
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
        count_writes=lambda: len(router.writes),
    )


def _assess_weights(weights: dict[str, int], available: dict[str, int], where: str) -> list[str]:
    """``weights`` as written, in basis points: they carry all the traffic, and none of it to
    an environment without available replicas."""
    problems = []
    if sum(weights.values()) != TOTAL_BASIS_POINTS:
        problems.append(f"{where}: weights {weights} do not sum to {TOTAL_BASIS_POINTS}")
    for env, bp in weights.items():
        if bp > 0 and available.get(env, 0) <= 0:
            problems.append(f"{where}: {bp / 100:g}% to {env}, which has no available replicas")
    return problems


# -- the real control plane --------------------------------------------------------------


def _available(obj: dict[str, Any]) -> int:
    return assess_readiness(obj).available


def _replay(
    world: World, resource: str, assess: Callable[[Request, dict[str, int]], list[str]]
) -> list[str]:
    """Check each router write of ``resource`` on the audit log against the Deployments as
    the API server held them then (the newest stored version of each, by resourceVersion:
    the Deployment controller reports available replicas in its status writes)."""
    deployments: dict[str, dict[str, Any]] = {}
    problems = []
    for write in world.bed.audit.writes(namespace=world.ns):
        if write.resource == "deployments" and write.stored is not None:
            held = deployments.get(write.name)
            if held is None or _rv(write.stored) >= _rv(held):
                deployments[write.name] = write.stored
        if write.resource == resource and write.user == world.router_user:
            assert write.stored is not None, f"{write.verb} {resource}: no body in the audit log"
            available = {
                env: _available(deployments[name]) if name in deployments else 0
                for env, name in world_module.DEPLOYMENT_NAMES.items()
            }
            problems += assess(write, available)
    return problems


def _count(world: World, resource: str) -> int:
    audit = world.bed.audit
    return len(audit.writes(namespace=world.ns, user=world.router_user, resource=resource))


def _rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


def _selector_write(write: Request, available: dict[str, int]) -> list[str]:
    assert write.stored is not None
    env = write.stored["spec"]["selector"].get("env")
    return _assess_weights(
        {env: TOTAL_BASIS_POINTS}, available, f"Service write at {write.timestamp}"
    )


def _route_write(write: Request, available: dict[str, int]) -> list[str]:
    assert write.stored is not None
    where = f"HTTPRoute write at {write.timestamp}"
    rules = write.stored["spec"]["rules"]
    refs = rules[0]["backendRefs"]
    if len(refs) != 2:
        return [f"{where}: backendRefs {refs} are not two refs"]
    weights = {r["name"].removeprefix("m-"): r["weight"] for r in refs}
    problems = _assess_weights(weights, available, where)
    extra_targets = [
        f["requestMirror"]["backendRef"]["name"] for f in rules[0].get("filters") or []
    ] + [r["backendRefs"][0]["name"] for r in rules if r.get("name") == HEADER_RULE_NAME]
    for target in extra_targets:
        if available.get(target.removeprefix("m-"), 0) <= 0:
            problems.append(f"{where}: extras send traffic to {target} with no available pod")
    return problems


def _replicas_write(write: Request, available: dict[str, int]) -> list[str]:
    # After this write, the pods that can serve are the available ones the spec keeps.
    assert write.stored is not None
    env = write.name.removeprefix("m-")
    serving = dict(available)
    serving[env] = min(serving.get(env, 0), int(write.stored["spec"]["replicas"]))
    if sum(serving.values()) <= 0:
        return [f"Deployment write {write.name} at {write.timestamp}: no pod serves"]
    return []


def _hooks(world: World, stuck: set[str], *, verb: str, path: str) -> dict[str, Callable[..., Any]]:
    def never_ready(env: EnvName) -> None:
        world_module.hold_never_ready(world, env)
        stuck.add(env)
        world_module.settle(world, stuck)

    return {
        "make_never_ready": never_ready,
        "fail_writes": lambda: world.proxy.add(verb=verb, path=path, times=None, status=500),
        "clear_faults": world.proxy.clear,
        "settle": lambda: world_module.settle(world, stuck),
    }


def selector_harness(world: World) -> Harness:
    """Service selector router; both environments run two pods, the Service selects blue."""
    envs = world_module.create_environments(world, blue=2, green=2)
    world_module.create_selector_service(world, {"app": "m", "env": "blue"})
    world_module.settle(world)
    router = ServiceSelectorRouter(world.client, namespace=world.ns, service="m", environments=envs)
    stuck: set[str] = set()
    return Harness(
        name="selector",
        router=router,
        weights=[100.0],
        extras=lambda: False,
        check_writes=lambda: _replay(world, "services", _selector_write),
        count_writes=lambda: _count(world, "services"),
        stuck=stuck,
        **_hooks(world, stuck, verb="PATCH", path=r"/services/m$"),
    )


def replicas_harness(world: World, mode: CapacityMode) -> Harness:
    """Replica router; blue runs four pods, green none, the Service selects both."""
    envs = world_module.create_environments(world, blue=4, green=0)
    world_module.create_selector_service(world, {"app": "m"})
    world_module.settle(world)
    router = ReplicasRouter(
        world.client, namespace=world.ns, service="m", environments=envs, capacity=mode
    )
    stuck: set[str] = set()
    return Harness(
        name=f"replicas-{mode}",
        router=router,
        weights=[5.0, 25.0, 50.0, 100.0],
        extras=lambda: False,
        check_writes=lambda: _replay(world, "deployments", _replicas_write),
        count_writes=lambda: _count(world, "deployments"),
        stuck=stuck,
        **_hooks(world, stuck, verb="PATCH", path=r"/deployments/m-"),
    )


def gateway_harness(world: World) -> Harness:
    """Gateway API router with a header route and a mirror; the route starts on blue only."""
    envs = world_module.create_environments(world, blue=2, green=2)
    world_module.create_gateway_objects(world, [{"name": "m-blue", "port": 8080}])
    world_module.settle(world)
    router = GatewayApiRouter(
        world.client,
        namespace=world.ns,
        service="m",
        environments=envs,
        route="m",
        headers={"x-canary": "always"},
        mirror=True,
    )
    stuck: set[str] = set()

    def extras() -> bool:
        rules = world.admin.get(HTTPROUTES, "m", world.ns)["spec"]["rules"]
        return len(rules) > 1 or bool(rules[0].get("filters"))

    return Harness(
        name="gateway",
        router=router,
        weights=[0.5, 10.0, 50.0, 100.0],
        extras=extras,
        check_writes=lambda: _replay(world, "httproutes", _route_write),
        count_writes=lambda: _count(world, "httproutes"),
        stuck=stuck,
        **_hooks(world, stuck, verb="PUT", path=r"/httproutes/m$"),
    )


def refused_writes(world: World) -> list[str]:
    """The router's writes the API server did not accept, from the audit log (faults the
    proxy injected never reach it; a 409 Conflict is a stale read, which the router re-reads
    after, not an object refused)."""
    return [
        f"{w.verb} {w.resource}/{w.name}: {w.code}"
        for w in world.bed.audit.writes(namespace=world.ns, user=world.router_user, succeeded=None)
        if not w.succeeded and w.code != 409
    ]


def assert_history(world: World, harness: Harness) -> None:
    """Every router write kept the invariants and the API server accepted every one."""
    problems = harness.check_writes() + refused_writes(world)
    assert not problems, "\n".join(problems)
