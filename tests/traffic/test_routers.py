"""What each real router writes, its refusals, and retries of faults during a shift.

Tests that take ``world`` run on the real control plane (marker ``controlplane``): the
router talks as the controller's ServiceAccount through the fault proxy, and what it wrote
is read from the API server's audit log.
"""

from __future__ import annotations

import threading
from pathlib import Path

import kubernetes
import pytest

from controlplane.audit import Request
from mlrollout.errors import ApiUnavailableError, RouterError, SpecError
from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import DEPLOYMENTS, HTTPROUTES, SERVICES
from mlrollout.spec import ModelRollout, load_object
from mlrollout.spec.strategy import CapacityMode
from mlrollout.spec.yamlfile import parse_yaml_documents
from mlrollout.traffic import (
    FakeRouter,
    GatewayApiRouter,
    ReplicasRouter,
    ServiceSelectorRouter,
    build_router,
)
from mlrollout.traffic.httproute import HEADER_RULE_NAME
from mlrollout.traffic.replicas import STABLE_REPLICAS_ANNOTATION
from mlrollout.traffic.selector import decide_env_label

from . import world as world_module
from .harness import (
    assert_history,
    gateway_harness,
    refused_writes,
    replicas_harness,
    selector_harness,
    split,
)
from .world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _router_writes(world: World, resource: str) -> list[Request]:
    """The router's accepted writes of ``resource``, from the audit log."""
    return world.bed.audit.writes(namespace=world.ns, user=world.router_user, resource=resource)


# -- faults during a shift (acceptance) -------------------------------------------------


@pytest.mark.parametrize("router", ["selector", "replicas", "gateway"])
def test_429_and_500_during_a_shift_are_retried_honouring_retry_after(
    router: str, world: World, no_sleep: list[float]
) -> None:
    if router == "selector":
        made, verb, path, weight = selector_harness(world), "PATCH", "/services/m$", 100
    elif router == "gateway":
        made, verb, path, weight = gateway_harness(world), "PUT", "/httproutes/m$", 5
    else:
        made = replicas_harness(world, CapacityMode.CONSTANT)
        verb, path, weight = "PATCH", "/deployments/m-", 25
    made.router.ensure()
    too_many = world.proxy.add(verb=verb, path=path, status=429, retry_after=2)
    failing = world.proxy.add(verb=verb, path=path, nth=2, status=500)
    achieved = made.router.shift(split(weight))
    assert (too_many.fired, failing.fired) == (1, 1)
    assert no_sleep[0] == 2.0
    assert len(no_sleep) == 2
    made.settle()
    assert made.router.observe("blue") == achieved
    assert achieved.canary_percent == weight
    assert_history(world, made)


def test_a_conflicting_route_edit_is_reread_and_kept(world: World) -> None:
    """A real 409: the route changes between the router's read and its PUT (held back by the
    proxy); the router re-reads, and the other writer's change survives its write."""
    made = gateway_harness(world)
    made.router.ensure()
    before = len(_router_writes(world, "httproutes"))
    held = world.proxy.add(verb="PUT", path=r"/httproutes/m$", delay=4.0)

    def edit_while_held() -> None:
        while held.matched == 0:
            threading.Event().wait(0.01)
        world.admin.patch(HTTPROUTES, "m", world.ns, {"metadata": {"labels": {"team": "ml"}}})

    editor = threading.Thread(target=edit_while_held, daemon=True)
    editor.start()
    assert made.router.shift(split(10)).canary_percent == 10.0
    editor.join(timeout=10)
    puts = world.bed.audit.writes(
        namespace=world.ns, user=world.router_user, resource="httproutes", succeeded=None
    )
    assert [w.code for w in puts[before:]] == [409, 200]
    route = world.admin.get(HTTPROUTES, "m", world.ns)
    assert route["metadata"]["labels"] == {"team": "ml"}
    assert [r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]] == [9000, 1000]
    assert_history(world, made)


# -- gateway ---------------------------------------------------------------------------


def test_gateway_writes_basis_points_header_rule_and_mirror_in_one_put(world: World) -> None:
    made = gateway_harness(world)
    made.router.ensure()
    before = len(_router_writes(world, "httproutes"))
    assert made.router.shift(split(0.5)).canary_percent == 0.5
    assert len(_router_writes(world, "httproutes")) == before + 1
    rules = world.admin.get(HTTPROUTES, "m", world.ns)["spec"]["rules"]
    managed, header = rules
    # As stored: the API server defaults a backend's group and kind (and weight 1).
    service = {"group": "", "kind": "Service"}
    assert managed["backendRefs"] == [
        {**service, "name": "m-blue", "port": 8080, "weight": 9950},
        {**service, "name": "m-green", "port": 8080, "weight": 50},
    ]
    assert managed["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {**service, "name": "m-green", "port": 8080}},
        }
    ]
    assert header["name"] == HEADER_RULE_NAME
    assert header["matches"] == [
        {
            "path": {"type": "PathPrefix", "value": "/"},
            "headers": [{"type": "Exact", "name": "x-canary", "value": "always"}],
        }
    ]
    assert header["backendRefs"] == [{**service, "name": "m-green", "port": 8080, "weight": 1}]
    assert "filters" not in header
    made.router.shift(split(100))  # everything on the canary: extras are pointless
    rules = world.admin.get(HTTPROUTES, "m", world.ns)["spec"]["rules"]
    assert len(rules) == 1
    assert "filters" not in rules[0]
    assert_history(world, made)


def test_gateway_refuses_a_rule_with_a_foreign_backend(world: World) -> None:
    envs = world_module.create_environments(world, blue=1, green=1)
    world_module.create_gateway_objects(
        world, [{"name": "m-blue", "port": 8080}, {"name": "legacy", "port": 80}]
    )
    router = GatewayApiRouter(
        world.client, namespace=world.ns, service="m", environments=envs, route="m"
    )
    with pytest.raises(RouterError, match="found \\['legacy', 'm-blue'\\]"):
        router.ensure()
    with pytest.raises(RouterError, match="'legacy', which is neither"):
        router.observe("blue")
    assert _router_writes(world, "httproutes") == []


def test_gateway_needs_the_per_environment_services(world: World) -> None:
    envs = world_module.create_environments(world, blue=1, green=1)
    route = world_module.http_route(world.ns, [{"name": "m-blue", "port": 8080}])
    world.admin.create(HTTPROUTES, route, world.ns)
    router = GatewayApiRouter(
        world.client, namespace=world.ns, service="m", environments=envs, route="m"
    )
    with pytest.raises(RouterError, match=f"needs a Service {world.ns}/m-blue"):
        router.ensure()
    missing = GatewayApiRouter(
        world.client, namespace=world.ns, service="m", environments=envs, route="nope"
    )
    world_module.create_env_services(world)
    with pytest.raises(RouterError, match=f"HTTPRoute {world.ns}/nope not found"):
        missing.ensure()
    assert refused_writes(world) == []


# -- service selector -------------------------------------------------------------------


def test_selector_env_label_is_the_one_differing_template_label() -> None:
    assert decide_env_label({"app": "m", "slot": "b"}, {"app": "m", "slot": "g"}) == "slot"
    with pytest.raises(SpecError, match="keys with different values: env, version"):
        decide_env_label({"env": "b", "version": "1"}, {"env": "g", "version": "2"})
    with pytest.raises(SpecError, match="none"):
        decide_env_label({"app": "m"}, {"app": "m"})


def test_selector_refuses_partial_weights_and_foreign_selectors(world: World) -> None:
    made = selector_harness(world)
    with pytest.raises(RouterError, match="only send 0 or 100"):
        made.router.shift(split(50))
    world.admin.patch(SERVICES, "m", world.ns, {"spec": {"selector": {"env": "red"}}})
    with pytest.raises(RouterError, match="does not pick one environment"):
        made.router.observe("blue")
    assert _router_writes(world, "services") == []


def test_selector_switch_is_one_patch_of_the_env_key(world: World) -> None:
    made = selector_harness(world)
    made.router.ensure()
    made.router.shift(split(100))
    [write] = _router_writes(world, "services")
    assert write.verb == "patch"
    assert write.stored is not None
    assert write.stored["spec"]["selector"] == {"app": "m", "env": "green"}
    assert_history(world, made)


# -- replicas ---------------------------------------------------------------------------


def _replicas(world: World) -> dict[str, int]:
    return {
        env: world.admin.get(DEPLOYMENTS, name, world.ns)["spec"]["replicas"]
        for env, name in world_module.DEPLOYMENT_NAMES.items()
    }


def test_replicas_scale_up_before_down_and_remember_the_full_count(world: World) -> None:
    made = replicas_harness(world, CapacityMode.CONSTANT)
    made.router.ensure()
    assert made.router.shift(split(50)).canary_percent == 50.0
    writes = _router_writes(world, "deployments")
    stored = [w.stored or {} for w in writes]
    assert [
        (w.verb, w.name, s["spec"]["replicas"]) for w, s in zip(writes, stored, strict=True)
    ] == [
        ("patch", "m-green", 2),
        ("patch", "m-blue", 2),
    ]
    assert stored[1]["metadata"]["annotations"][STABLE_REPLICAS_ANNOTATION] == "4"
    made.settle()
    # A new router (a restarted controller) computes the same plan from the annotation.
    fresh = ReplicasRouter(
        world.client,
        namespace=world.ns,
        service="m",
        environments=made.router.environments,  # type: ignore[attr-defined]
        capacity=CapacityMode.CONSTANT,
    )
    assert fresh.shift(split(25)).canary_percent == 25.0
    assert _replicas(world) == {"blue": 3, "green": 1}
    made.settle()
    fresh.release("blue")
    assert _replicas(world) == {"blue": 4, "green": 0}
    blue = world.admin.get(DEPLOYMENTS, "m-blue", world.ns)
    assert STABLE_REPLICAS_ANNOTATION not in (blue["metadata"].get("annotations") or {})
    assert_history(world, made)


def test_replicas_defer_removing_the_last_stable_pods_while_the_canary_is_unready(
    world: World,
) -> None:
    made = replicas_harness(world, CapacityMode.SURGE)
    made.make_never_ready("green")
    achieved = made.router.shift(split(100))
    assert achieved.canary_percent == 50.0
    assert _replicas(world) == {"blue": 4, "green": 4}
    made.settle()  # green's four pods stay Pending: nothing can place them
    assert_history(world, made)


def test_replicas_constant_mode_keeps_the_gpu_budget(world: World) -> None:
    envs = world_module.create_environments(world, blue=4, green=0, green_gpus=2)
    world_module.create_selector_service(world, {"app": "m"})
    world_module.settle(world)
    router = ReplicasRouter(
        world.client,
        namespace=world.ns,
        service="m",
        environments=envs,
        capacity=CapacityMode.CONSTANT,
    )
    assert router.shift(split(50)).canary_percent == 33.33
    assert _replicas(world) == {"blue": 2, "green": 1}
    assert refused_writes(world) == []


def test_replicas_need_a_service_selecting_both(world: World) -> None:
    envs = world_module.create_environments(world, blue=1, green=0)
    world_module.create_selector_service(world, {"app": "m", "env": "blue"})
    router = ReplicasRouter(world.client, namespace=world.ns, service="m", environments=envs)
    with pytest.raises(RouterError, match=f"needs Service {world.ns}/m to select both"):
        router.ensure()
    assert _router_writes(world, "deployments") == []


# -- factory ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "kind"),
    [
        ("canary.yaml", ReplicasRouter),
        ("gateway-canary.yaml", GatewayApiRouter),
        ("blue-green.yaml", ServiceSelectorRouter),
    ],
)
def test_factory_builds_the_router_the_spec_names(example: str, kind: type) -> None:
    [doc] = parse_yaml_documents((EXAMPLES / example).read_text(), source=example)
    rollout = load_object(doc, source=example)
    assert isinstance(rollout, ModelRollout)
    # Building a router sends no request: a client bound to no cluster will do.
    client = KubeClient(kubernetes.client.ApiClient())
    try:
        assert isinstance(build_router(client, rollout), kind)
    finally:
        client.close()


def test_fake_router_fails_on_request_and_keeps_its_split() -> None:
    router = FakeRouter(available={"blue": 1, "green": 1}, resolution_bp=100)
    assert router.shift(split(5.4)).canary_percent == 5.0
    router.fail_next(ApiUnavailableError("down"))
    with pytest.raises(ApiUnavailableError):
        router.release("blue")
    assert router.observe("blue").canary_percent == 5.0


def test_public_names_are_sorted_and_documented() -> None:
    import mlrollout.traffic as traffic

    assert list(traffic.__all__) == sorted(traffic.__all__)
    for name in traffic.__all__:
        assert getattr(traffic, name).__doc__, name
