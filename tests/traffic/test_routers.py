"""What each real router writes, its refusals, and retries of faults during a shift."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeapi import KubeApiServer, assert_valid_history
from mlrollout.errors import ApiUnavailableError, RouterError, SpecError
from mlrollout.kube import KubeClient
from mlrollout.kube.environments import GpuEnvironments
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

from . import world
from .harness import gateway_harness, replicas_harness, selector_harness, split

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# -- faults during a shift (acceptance) -------------------------------------------------


@pytest.mark.parametrize("router", ["selector", "replicas", "gateway"])
def test_429_and_500_during_a_shift_are_retried_honouring_retry_after(
    router: str, kube: KubeClient, kube_server: KubeApiServer, no_sleep: list[float]
) -> None:
    if router == "selector":
        made, verb, path, weight = selector_harness(kube_server, kube), "PATCH", "/services/m$", 100
    elif router == "gateway":
        made, verb, path, weight = gateway_harness(kube_server, kube), "PUT", "/httproutes/m$", 5
    else:
        made = replicas_harness(kube_server, kube, CapacityMode.CONSTANT)
        verb, path, weight = "PATCH", "/deployments/m-", 25
    made.router.ensure()
    kube_server.faults.add(verb=verb, path_regex=path, status=429, retry_after=2)
    kube_server.faults.add(verb=verb, path_regex=path, nth=2, status=500)
    achieved = made.router.shift(split(weight))
    assert no_sleep[0] == 2.0
    assert len(no_sleep) == 2
    made.settle()
    assert made.router.observe("blue") == achieved
    assert achieved.canary_weight == weight
    assert not made.check_writes()
    assert_valid_history(kube_server)


# -- gateway ---------------------------------------------------------------------------


def test_gateway_writes_basis_points_header_rule_and_mirror_in_one_put(
    kube: KubeClient, kube_server: KubeApiServer
) -> None:
    made = gateway_harness(kube_server, kube)
    made.router.ensure()
    before = len(kube_server.history.records(kind="HTTPRoute", actor="client"))
    assert made.router.shift(split(0.5)).canary_weight == 0.5
    assert len(kube_server.history.records(kind="HTTPRoute", actor="client")) == before + 1
    rules = kube.get(HTTPROUTES, "m", world.NS)["spec"]["rules"]
    managed, header = rules
    assert managed["backendRefs"] == [
        {"name": "m-blue", "port": 8080, "weight": 9950},
        {"name": "m-green", "port": 8080, "weight": 50},
    ]
    assert managed["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {"name": "m-green", "port": 8080}},
        }
    ]
    assert header["name"] == HEADER_RULE_NAME
    assert header["matches"] == [
        {
            "path": {"type": "PathPrefix", "value": "/"},
            "headers": [{"type": "Exact", "name": "x-canary", "value": "always"}],
        }
    ]
    assert header["backendRefs"] == [{"name": "m-green", "port": 8080}]
    assert "filters" not in header
    made.router.shift(split(100))  # everything on the canary: extras are pointless
    rules = kube.get(HTTPROUTES, "m", world.NS)["spec"]["rules"]
    assert len(rules) == 1
    assert "filters" not in rules[0]
    assert_valid_history(kube_server)


def test_gateway_refuses_a_rule_with_a_foreign_backend(
    kube: KubeClient, kube_server: KubeApiServer
) -> None:
    world.create_environments(kube, blue=1, green=1)
    world.create_gateway_objects(
        kube, [{"name": "m-blue", "port": 8080}, {"name": "legacy", "port": 80}]
    )
    router = GatewayApiRouter(
        kube,
        namespace=world.NS,
        service="m",
        environments=GpuEnvironments(kube, namespace=world.NS, deployments=world.DEPLOYMENT_NAMES),
        route="m",
    )
    with pytest.raises(RouterError, match="found \\['legacy', 'm-blue'\\]"):
        router.ensure()
    with pytest.raises(RouterError, match="'legacy', which is neither"):
        router.observe("blue")


def test_gateway_needs_the_per_environment_services(kube: KubeClient) -> None:
    envs = world.create_environments(kube, blue=1, green=1)
    kube.create(HTTPROUTES, world.http_route([{"name": "m-blue", "port": 8080}]), world.NS)
    router = GatewayApiRouter(kube, namespace=world.NS, service="m", environments=envs, route="m")
    with pytest.raises(RouterError, match="needs a Service default/m-blue"):
        router.ensure()
    missing = GatewayApiRouter(
        kube, namespace=world.NS, service="m", environments=envs, route="nope"
    )
    kube.create(SERVICES, world.service("m-blue", {"env": "blue"}), world.NS)
    kube.create(SERVICES, world.service("m-green", {"env": "green"}), world.NS)
    with pytest.raises(RouterError, match="HTTPRoute default/nope not found"):
        missing.ensure()


# -- service selector -------------------------------------------------------------------


def test_selector_env_label_is_the_one_differing_template_label() -> None:
    assert decide_env_label({"app": "m", "slot": "b"}, {"app": "m", "slot": "g"}) == "slot"
    with pytest.raises(SpecError, match="keys with different values: env, version"):
        decide_env_label({"env": "b", "version": "1"}, {"env": "g", "version": "2"})
    with pytest.raises(SpecError, match="none"):
        decide_env_label({"app": "m"}, {"app": "m"})


def test_selector_refuses_partial_weights_and_foreign_selectors(
    kube: KubeClient, kube_server: KubeApiServer
) -> None:
    made = selector_harness(kube_server, kube)
    with pytest.raises(RouterError, match="only send 0 or 100"):
        made.router.shift(split(50))
    kube.patch(SERVICES, "m", world.NS, {"spec": {"selector": {"env": "red"}}})
    with pytest.raises(RouterError, match="does not pick one environment"):
        made.router.observe("blue")


def test_selector_switch_is_one_patch_of_the_env_key(
    kube: KubeClient, kube_server: KubeApiServer
) -> None:
    made = selector_harness(kube_server, kube)
    made.router.ensure()
    made.router.shift(split(100))
    [write] = kube_server.history.records(kind="Service", verb="PATCH")
    assert write.object["spec"]["selector"] == {"app": "m", "env": "green"}


# -- replicas ---------------------------------------------------------------------------


def _replicas(kube: KubeClient) -> dict[str, int]:
    return {
        env: kube.get(DEPLOYMENTS, name, world.NS)["spec"]["replicas"]
        for env, name in world.DEPLOYMENT_NAMES.items()
    }


def test_replicas_scale_up_before_down_and_remember_the_full_count(
    kube: KubeClient, kube_server: KubeApiServer
) -> None:
    made = replicas_harness(kube_server, kube, CapacityMode.CONSTANT)
    made.router.ensure()
    assert made.router.shift(split(50)).canary_weight == 50.0
    writes = kube_server.history.records(kind="Deployment", actor="client", verb="PATCH")
    assert [(w.name, w.object["spec"]["replicas"]) for w in writes] == [
        ("m-green", 2),
        ("m-blue", 2),
    ]
    assert writes[1].object["metadata"]["annotations"] == {STABLE_REPLICAS_ANNOTATION: "4"}
    made.settle()
    # A new router (a restarted controller) computes the same plan from the annotation.
    fresh = ReplicasRouter(
        kube,
        namespace=world.NS,
        service="m",
        environments=made.router.environments,  # type: ignore[attr-defined]
        capacity=CapacityMode.CONSTANT,
    )
    assert fresh.shift(split(25)).canary_weight == 25.0
    assert _replicas(kube) == {"blue": 3, "green": 1}
    made.settle()
    fresh.release("blue")
    assert _replicas(kube) == {"blue": 4, "green": 0}
    blue = kube.get(DEPLOYMENTS, "m-blue", world.NS)
    assert STABLE_REPLICAS_ANNOTATION not in (blue["metadata"].get("annotations") or {})


def test_replicas_defer_removing_the_last_stable_pods_while_the_canary_is_unready(
    kube: KubeClient, kube_server: KubeApiServer
) -> None:
    made = replicas_harness(kube_server, kube, CapacityMode.SURGE)
    made.make_never_ready("green")
    achieved = made.router.shift(split(100))
    assert achieved.canary_weight == 50.0
    assert _replicas(kube) == {"blue": 4, "green": 4}


def test_replicas_constant_mode_keeps_the_gpu_budget(
    kube: KubeClient, kube_server: KubeApiServer
) -> None:
    envs = world.create_environments(kube, blue=4, green=0, green_gpus=2)
    world.create_selector_service(kube, {"app": "m"})
    world.settle(kube)
    router = ReplicasRouter(
        kube, namespace=world.NS, service="m", environments=envs, capacity=CapacityMode.CONSTANT
    )
    assert router.shift(split(50)).canary_weight == 33.33
    assert _replicas(kube) == {"blue": 2, "green": 1}
    assert_valid_history(kube_server)


def test_replicas_need_a_service_selecting_both(kube: KubeClient) -> None:
    envs = world.create_environments(kube, blue=1, green=0)
    world.create_selector_service(kube, {"app": "m", "env": "blue"})
    router = ReplicasRouter(kube, namespace=world.NS, service="m", environments=envs)
    with pytest.raises(RouterError, match="needs Service default/m to select both"):
        router.ensure()


# -- factory ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "kind"),
    [
        ("canary.yaml", ReplicasRouter),
        ("gateway-canary.yaml", GatewayApiRouter),
        ("blue-green.yaml", ServiceSelectorRouter),
    ],
)
def test_factory_builds_the_router_the_spec_names(
    example: str, kind: type, kube: KubeClient
) -> None:
    [doc] = parse_yaml_documents((EXAMPLES / example).read_text(), source=example)
    rollout = load_object(doc, source=example)
    assert isinstance(rollout, ModelRollout)
    assert isinstance(build_router(kube, rollout), kind)


def test_fake_router_fails_on_request_and_keeps_its_split() -> None:
    router = FakeRouter(available={"blue": 1, "green": 1}, resolution=1.0)
    assert router.shift(split(5.4)).canary_weight == 5.0
    router.fail_next(ApiUnavailableError("down"))
    with pytest.raises(ApiUnavailableError):
        router.release("blue")
    assert router.observe("blue").canary_weight == 5.0


def test_public_names_are_sorted_and_documented() -> None:
    import mlrollout.traffic as traffic

    assert list(traffic.__all__) == sorted(traffic.__all__)
    for name in traffic.__all__:
        assert getattr(traffic, name).__doc__, name
