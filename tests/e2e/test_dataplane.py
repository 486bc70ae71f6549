"""The e2e data plane: pure routing rules (fast) and real routing to real model servers (e2e).

The fast tests check ``routing`` table by table, with no server. The ``e2e`` tests write
objects through the official client into a namespace of the real control plane
(``tests/controlplane``: the Deployment controller, the scheduler and kwok make the pods and
their readiness), start two reference model servers on loopback, route load with
``clusterplane.ClusterDataPlane`` following the real API server, and count what each
*server* recorded on its ``/metrics`` (what Prometheus would scrape), with binomial bounds at
a one-in-a-million miss rate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controlplane.fixtures import TestBed
from mlrollout.kube import KubeClient, connect
from mlrollout.local import ModelServer, ServerConfig
from mlrollout.spec.status import EnvName
from mlrollout.traffic.httproute import Backend as RouteBackend
from mlrollout.traffic.httproute import Extras, compute_routed

from . import load
from .cluster import NS, SERVICE, Cluster, backend_ref, route_rule
from .clusterplane import ClusterDataPlane
from .evidence import assert_binomial, fetch_counter, fetch_predictions, wait_pods
from .load import LoadSpec
from .routing import (
    PLAIN_REQUEST,
    Request,
    Routing,
    Topology,
    compute_routing,
    decide_destination,
)
from .views import ENVS, compose_view

TOPOLOGY = Topology(
    namespace=NS,
    service=SERVICE,
    deployments={env: f"{SERVICE}-{env}" for env in ENVS},
    backend_services={env: f"{SERVICE}-{env}" for env in ENVS},
    http_route=SERVICE,
)
BOTH = {"app": SERVICE}
PICKS = 1_000  # evenly spaced draws: shares come out exact

# -- fast: the routing table ---------------------------------------------------------------


def _green_share(routing: Routing, request: Request = PLAIN_REQUEST, picks: int = PICKS) -> int:
    chosen = [
        decide_destination(routing, request, pick=i / picks, mirror_pick=0.0) for i in range(picks)
    ]
    return sum(1 for d in chosen if d.env == "green" and d.reachable)


@pytest.mark.parametrize(
    ("selector", "ready", "weights"),
    [
        pytest.param({"env": "blue"}, {"blue": 2, "green": 2}, (100.0, 0.0), id="blue-only"),
        pytest.param({"env": "green"}, {"blue": 2, "green": 2}, (0.0, 100.0), id="green-only"),
        pytest.param(BOTH, {"blue": 3, "green": 1}, (75.0, 25.0), id="both-by-ready-pods"),
        pytest.param(BOTH, {"blue": 2, "green": 0}, (100.0, 0.0), id="both-green-unready"),
        pytest.param({"env": "green"}, {"blue": 2, "green": 0}, (0.0, 0.0), id="no-endpoints"),
        pytest.param({}, {"blue": 2, "green": 2}, (0.0, 0.0), id="no-selector"),
        pytest.param(None, {"blue": 2, "green": 2}, (0.0, 0.0), id="no-service"),
        pytest.param({"env": "red"}, {"blue": 2, "green": 2}, (0.0, 0.0), id="selects-neither"),
    ],
)
def test_service_selector_weights_follow_ready_pods(
    selector: dict[str, str] | None, ready: dict[str, int], weights: tuple[float, float]
) -> None:
    routing = compute_routing(compose_view(selector, ready=ready), TOPOLOGY)
    assert routing.source == "service"
    assert routing.weights() == dict(zip(ENVS, weights, strict=True))
    assert _green_share(routing) == round(PICKS * weights[1] / 100)
    served = decide_destination(routing, PLAIN_REQUEST, pick=0.5, mirror_pick=0.0)
    assert served.reachable == (sum(weights) > 0)


@pytest.mark.parametrize(
    ("refs", "weights"),
    [
        pytest.param([backend_ref("blue", 9000), backend_ref("green", 1000)], (90, 10), id="90/10"),
        pytest.param([backend_ref("blue", 9950), backend_ref("green", 50)], (99.5, 0.5), id="0.5"),
        pytest.param([backend_ref("blue"), backend_ref("green")], (50, 50), id="default-weight-1"),
        pytest.param([backend_ref("green", 7)], (0, 100), id="one-backend"),
        pytest.param([backend_ref("blue", 0), backend_ref("green", 0)], (0, 0), id="all-zero"),
    ],
)
def test_route_weights_are_the_first_rules_backend_weights(
    refs: list[dict[str, Any]], weights: tuple[float, float]
) -> None:
    rules = [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": refs}]
    routing = compute_routing(
        compose_view(BOTH, ready={"blue": 1, "green": 1}, route_rules=rules), TOPOLOGY
    )
    assert routing.source == "httproute"
    assert routing.weights() == pytest.approx(dict(zip(ENVS, weights, strict=True)))
    assert _green_share(routing) == round(PICKS * weights[1] / 100)


def test_route_to_an_environment_without_ready_pods_fails_instead_of_moving_weight() -> None:
    view = compose_view(
        BOTH, ready={"blue": 2, "green": 0}, route_rules=[route_rule(blue=90, green=10)]
    )
    routing = compute_routing(view, TOPOLOGY)
    assert routing.weights() == {"blue": 90.0, "green": 10.0}
    to_green = decide_destination(routing, PLAIN_REQUEST, pick=0.95, mirror_pick=0.0)
    assert (to_green.env, to_green.reachable) == ("green", False)
    assert decide_destination(routing, PLAIN_REQUEST, pick=0.5, mirror_pick=0.0).reachable


def test_route_backend_that_is_no_environment_is_unreachable() -> None:
    rule = {"backendRefs": [backend_ref("blue", 1), {"name": "elsewhere", "port": 80}]}
    routing = compute_routing(compose_view(BOTH, ready={"blue": 1}, route_rules=[rule]), TOPOLOGY)
    assert routing.weights() == {"blue": 50.0, "green": 0.0}
    elsewhere = decide_destination(routing, PLAIN_REQUEST, pick=0.75, mirror_pick=0.0)
    assert (elsewhere.env, elsewhere.reachable) == (None, False)


def test_header_rule_takes_matching_requests_and_exact_path_beats_prefix() -> None:
    header_rule = {
        "matches": [{"headers": [{"type": "Exact", "name": "X-Canary", "value": "always"}]}],
        "backendRefs": [backend_ref("green")],
    }
    exact = {
        "matches": [{"path": {"type": "Exact", "value": "/explain"}}],
        "backendRefs": [backend_ref("green")],
    }
    rules = [route_rule(blue=100, green=0), header_rule, exact]
    routing = compute_routing(
        compose_view(BOTH, ready={"blue": 1, "green": 1}, route_rules=rules), TOPOLOGY
    )
    assert routing.weights() == {"blue": 100.0, "green": 0.0}
    assert _green_share(routing, Request(headers={"x-canary": "always"})) == PICKS
    assert _green_share(routing, Request(headers={"x-canary": "never"})) == 0
    assert _green_share(routing, Request(path="/explain")) == PICKS
    nowhere = compute_routing(compose_view(BOTH, ready={"blue": 1}, route_rules=[exact]), TOPOLOGY)
    assert decide_destination(nowhere, PLAIN_REQUEST, pick=0.0, mirror_pick=0.0).env is None


@pytest.mark.parametrize(
    ("mirror", "ready_green", "mirrored"),
    [
        pytest.param({"backendRef": backend_ref("green")}, 1, 1_000, id="all"),
        pytest.param({"backendRef": backend_ref("green"), "percent": 25}, 1, 250, id="percent"),
        pytest.param(
            {"backendRef": backend_ref("green"), "fraction": {"numerator": 1, "denominator": 8}},
            1,
            125,
            id="fraction",
        ),
        pytest.param({"backendRef": backend_ref("green")}, 0, 0, id="mirror-unready"),
    ],
)
def test_request_mirror_copies_a_fraction_to_its_backend(
    mirror: dict[str, Any], ready_green: int, mirrored: int
) -> None:
    rule = {**route_rule(blue=1), "filters": [{"type": "RequestMirror", "requestMirror": mirror}]}
    view = compose_view(BOTH, ready={"blue": 1, "green": ready_green}, route_rules=[rule])
    routing = compute_routing(view, TOPOLOGY)
    copies = [
        decide_destination(routing, PLAIN_REQUEST, pick=0.5, mirror_pick=i / PICKS).mirrors
        for i in range(PICKS)
    ]
    assert sum(1 for c in copies if c == ("green",)) == mirrored
    assert routing.weights() == {"blue": 100.0, "green": 0.0}


def test_without_the_route_the_service_selector_decides() -> None:
    routing = compute_routing(compose_view({"env": "green"}, ready={"green": 1}), TOPOLOGY)
    assert (routing.source, routing.weights()) == ("service", {"blue": 0.0, "green": 100.0})


def test_a_pod_of_a_real_cluster_belongs_to_its_deployment_through_its_replicaset() -> None:
    """On a real cluster a pod's controller is the ReplicaSet ``<deployment>-<hash>``."""
    view = compose_view(BOTH, ready={"blue": 2, "green": 1}, unready=0)
    for pod in view.pods:
        deployment = pod["metadata"]["ownerReferences"][0]["name"]
        pod["metadata"]["labels"]["pod-template-hash"] = "5d8f7c9b4"
        pod["metadata"]["ownerReferences"] = [
            {"kind": "ReplicaSet", "name": f"{deployment}-5d8f7c9b4", "controller": True}
        ]
    routing = compute_routing(view, TOPOLOGY)
    assert routing.ready == {"blue": 2, "green": 1}
    # A ReplicaSet whose name does not end in the pod's template hash is no Deployment's.
    view.pods[0]["metadata"]["labels"]["pod-template-hash"] = "other"
    assert compute_routing(view, TOPOLOGY).ready == {"blue": 1, "green": 1}


@given(
    blue=st.integers(0, 6),
    green=st.integers(0, 6),
    selector=st.sampled_from([{"env": "blue"}, {"env": "green"}, BOTH]),
)
def test_selector_weights_sum_to_100_over_ready_environments(
    blue: int, green: int, selector: dict[str, str]
) -> None:
    routing = compute_routing(
        compose_view(selector, ready={"blue": blue, "green": green}), TOPOLOGY
    )
    weights = routing.weights()
    reachable = [env for env in ENVS if routing.ready[env] > 0]
    assert sum(weights.values()) == pytest.approx(100.0 if reachable else 0.0)
    assert all(weights[env] == 0.0 for env in ENVS if env not in reachable)


@pytest.mark.parametrize(
    ("arguments", "total"),
    [
        pytest.param({"rps": 100, "duration_s": 2}, 200, id="rate-times-duration"),
        pytest.param({"rps": 100, "duration_s": 2, "max_requests": 50}, 50, id="capped"),
        pytest.param({"rps": 7, "duration_s": 0.5}, 4, id="rounded-up"),
    ],
)
def test_load_is_bounded(arguments: dict[str, Any], total: int) -> None:
    assert LoadSpec(feedback_fraction=0.5, seed=1, **arguments).total == total


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({"rps": 0, "duration_s": 1}, id="no-rate"),
        pytest.param({"rps": 10, "duration_s": 601}, id="too-long"),
        pytest.param({"rps": 10, "duration_s": 1, "header_fraction": 1.5}, id="fraction"),
    ],
)
def test_load_refuses_unbounded_or_bad_settings(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be in"):
        LoadSpec(feedback_fraction=0.5, seed=1, **arguments)


def test_a_sender_bug_fails_the_run_instead_of_vanishing(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(url: str, body: Any, *, timeout_s: float) -> tuple[int, Any]:
        raise RuntimeError("sender bug")

    monkeypatch.setattr(load, "send_json", broken)
    routing = compute_routing(compose_view({"env": "blue"}, ready={"blue": 1}), TOPOLOGY)
    spec = LoadSpec(rps=200, duration_s=0.02, feedback_fraction=0.0, seed=1)
    run = load.LoadRun(spec, routing=lambda: routing, backends={"blue": "http://127.0.0.1:9"})
    with pytest.raises(AssertionError, match="sender bug"):
        run.start().wait()


def test_data_plane_sends_to_loopback_only() -> None:
    nowhere = cast(KubeClient, None)  # refused before it reads anything
    with pytest.raises(ValueError, match="loopback only"):
        ClusterDataPlane(
            nowhere, namespace=NS, service=SERVICE, backends={"blue": "http://10.1.2.3"}
        )


# -- e2e: real routing to real model servers -----------------------------------------------


@pytest.fixture
def model_servers() -> Iterator[dict[str, ModelServer]]:
    """Two reference model servers on 127.0.0.1 ephemeral ports (2 ms median latency)."""
    servers = {
        env: ModelServer(ServerConfig(environment=env, seed=seed, base_latency_s=0.002)).start()
        for seed, env in enumerate(ENVS, start=1)
    }
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


POLL_S = 0.05  # how often the data plane lists the namespace's objects
APPLIED_S = 0.5  # a poll interval plus one read of the namespace (0.29 s measured under load)


@pytest.fixture
def cluster(cp: TestBed) -> Cluster:
    """Writes objects into the test's namespace through the official client (admin), with
    two kwok GPU nodes in its pool."""
    made = Cluster(cp.api, cp.namespace)
    made.add_nodes()
    return made


@pytest.fixture
def watcher(cp: TestBed) -> KubeClient:
    """The data plane's own admin client (closed with the test's namespace)."""
    client = connect(kubeconfig=str(cp.session.plane.admin_kubeconfig), timeout=10.0)
    cp.clients.append(client)
    return client


@pytest.fixture
def plane(
    cp: TestBed, watcher: KubeClient, model_servers: dict[str, ModelServer]
) -> Iterator[ClusterDataPlane]:
    """The data plane for Service ``m`` and HTTPRoute ``m``, following the real API server."""
    backends = {env: server.url for env, server in model_servers.items()}
    with ClusterDataPlane(
        watcher,
        namespace=cp.namespace,
        service=SERVICE,
        backends=backends,
        http_route=SERVICE,
        poll_s=POLL_S,
    ) as running:
        yield running


def _settled(plane: ClusterDataPlane, *, weights: dict[str, float], ready: dict[str, int]) -> None:
    """Wait until the Deployment controller, scheduler and kwok made the pods ready and the
    data plane routes by them."""
    plane.wait_for(lambda s: s.weights == weights and s.ready == ready, timeout_s=60)


@pytest.mark.e2e
@pytest.mark.controlplane
def test_service_selecting_blue_sends_every_request_to_blue(
    cluster: Cluster, plane: ClusterDataPlane, model_servers: dict[str, ModelServer]
) -> None:
    for env in ENVS:
        cluster.add_deployment(env, replicas=2)
    cluster.add_service(SERVICE, {"app": SERVICE, "env": "blue"})
    _settled(plane, weights={"blue": 100.0, "green": 0.0}, ready={"blue": 2, "green": 0})

    stats = plane.run_load(100, 2.0, feedback_fraction=0.5, seed=1).wait()

    blue = stats.per_env["blue"]
    assert stats.dispatched == blue.requests == 200
    assert (blue.errors, stats.no_endpoints, stats.per_env["green"].requests) == (0, 0, 0)
    assert fetch_predictions(model_servers["blue"]) == 200
    assert fetch_predictions(model_servers["green"]) == 0
    assert_binomial(blue.feedback, trials=200, p=0.5)
    assert fetch_counter(model_servers["blue"], "model_labelled_predictions_total") == blue.feedback
    assert blue.correct / blue.feedback > 0.75  # true labels: the model is ~90 % accurate


@pytest.mark.e2e
@pytest.mark.controlplane
def test_route_weights_90_10_send_about_10_percent_to_green(
    cluster: Cluster, plane: ClusterDataPlane, model_servers: dict[str, ModelServer]
) -> None:
    for env in ENVS:
        cluster.add_deployment(env, replicas=2)
    cluster.add_env_services()
    cluster.add_route([route_rule(blue=9000, green=1000)])
    _settled(plane, weights={"blue": 90.0, "green": 10.0}, ready={"blue": 2, "green": 2})

    stats = plane.run_load(100, 3.0, feedback_fraction=0.2, seed=2).wait()

    green = fetch_predictions(model_servers["green"])
    assert green + fetch_predictions(model_servers["blue"]) == stats.dispatched == 300
    assert green == stats.per_env["green"].requests
    assert_binomial(green, trials=300, p=0.10)
    assert stats.no_endpoints == 0


@pytest.mark.e2e
@pytest.mark.controlplane
def test_service_selecting_both_spreads_by_ready_pods(
    cluster: Cluster, plane: ClusterDataPlane, model_servers: dict[str, ModelServer]
) -> None:
    cluster.add_deployment("blue", replicas=3)
    cluster.add_deployment("green", replicas=1)
    cluster.add_service(SERVICE, BOTH)
    _settled(plane, weights={"blue": 75.0, "green": 25.0}, ready={"blue": 3, "green": 1})

    stats = plane.run_load(100, 3.0, feedback_fraction=0.0, seed=3).wait()

    green = fetch_predictions(model_servers["green"])
    assert green + fetch_predictions(model_servers["blue"]) == stats.dispatched == 300
    assert_binomial(green, trials=300, p=0.25)


@pytest.mark.e2e
@pytest.mark.controlplane
def test_green_never_ready_gets_no_request_and_alone_means_no_endpoints(
    cp: TestBed,
    watcher: KubeClient,
    cluster: Cluster,
    plane: ClusterDataPlane,
    model_servers: dict[str, ModelServer],
) -> None:
    cluster.add_deployment("blue", replicas=2)
    cluster.add_deployment("green", replicas=2, schedulable=False)  # no node: Pending
    cluster.add_service(SERVICE, BOTH)
    wait_pods(watcher, cp.namespace, "green", 2)
    _settled(plane, weights={"blue": 100.0, "green": 0.0}, ready={"blue": 2, "green": 0})

    stats = plane.run_load(100, 2.0, feedback_fraction=0.0, seed=4).wait()

    assert stats.per_env["blue"].requests == stats.dispatched == 200
    assert fetch_predictions(model_servers["green"]) == stats.per_env["green"].requests == 0

    switched = time.monotonic()
    cluster.set_selector({"env": "green"})
    plane.wait_for(lambda s: s.weights == {"blue": 0.0, "green": 0.0}, since=switched)
    stranded = plane.run_load(50, 1.0, feedback_fraction=0.0, seed=5).wait()

    assert stranded.no_endpoints == stranded.dispatched == 50
    assert fetch_predictions(model_servers["green"]) == 0
    assert fetch_predictions(model_servers["blue"]) == 200


@pytest.mark.e2e
@pytest.mark.controlplane
def test_weight_change_through_the_api_takes_effect_within_half_a_second(
    cp: TestBed,
    cluster: Cluster,
    plane: ClusterDataPlane,
    model_servers: dict[str, ModelServer],
) -> None:
    for env in ENVS:
        cluster.add_deployment(env, replicas=1)
    cluster.add_env_services()
    cluster.add_route([route_rule(blue=10_000, green=0)])
    _settled(plane, weights={"blue": 100.0, "green": 0.0}, ready={"blue": 1, "green": 1})
    run = plane.run_load(100, 1.5, feedback_fraction=0.0, seed=6)
    time.sleep(0.5)

    cluster.set_route_rules([route_rule(blue=5_000, green=5_000)])
    applied = plane.wait_for(lambda s: s.weights["green"] == 50.0, timeout_s=5)
    stats = run.wait()

    # When the API server completed the write (its audit log), on the data plane's clock.
    [*_, patch] = cp.audit.writes(namespace=cp.namespace, resource="httproutes")
    written = time.monotonic() - (datetime.now(UTC) - patch.at).total_seconds()
    print(f"weights applied {applied.time - written:.3f} s after the write")  # shown with -s
    assert applied.time - written < APPLIED_S, applied.time - written
    used = next(u for u in stats.series if u.weights["green"] == 50.0)
    assert used.time - written < APPLIED_S + 5 / 100  # within a few requests of the change
    assert [u.weights["green"] for u in stats.series] == [0.0, 50.0]
    assert 0 < fetch_predictions(model_servers["green"]) < stats.dispatched


@pytest.mark.e2e
@pytest.mark.controlplane
def test_gateway_router_header_rule_and_mirror_reach_green(
    cluster: Cluster, plane: ClusterDataPlane, model_servers: dict[str, ModelServer]
) -> None:
    for env in ENVS:
        cluster.add_deployment(env, replicas=1)
    cluster.add_env_services()
    cluster.add_route([route_rule(blue=10_000, green=0)])
    backends: dict[EnvName, RouteBackend] = {
        "blue": RouteBackend(f"{SERVICE}-blue", 8080),
        "green": RouteBackend(f"{SERVICE}-green", 8080),
    }
    routed = compute_routed(
        cluster.fetch_route(),
        rule=0,
        backends=backends,
        canary_env="green",
        canary_bp=1_000,
        extras=Extras(headers={"x-canary": "always"}, mirror=True),
    )
    cluster.replace_route(routed)
    _settled(plane, weights={"blue": 90.0, "green": 10.0}, ready={"blue": 1, "green": 1})

    headered = plane.run_load(
        100, 1.0, feedback_fraction=0.0, seed=7, headers={"X-Canary": "always"}, header_fraction=1
    ).wait()
    assert headered.per_env["green"].requests == headered.dispatched == 100
    assert headered.per_env["green"].mirrored == 0  # the header rule carries no mirror

    plain = plane.run_load(100, 2.0, feedback_fraction=0.0, seed=8).wait()
    green = plain.per_env["green"]
    assert green.mirrored == plain.dispatched == 200
    assert_binomial(green.requests, trials=200, p=0.10)
    assert fetch_predictions(model_servers["green"]) == 100 + green.requests + green.mirrored
    assert fetch_predictions(model_servers["blue"]) == plain.per_env["blue"].requests


@pytest.mark.e2e
@pytest.mark.controlplane
def test_stop_ends_a_run_early_and_keeps_its_counts(
    cluster: Cluster, plane: ClusterDataPlane, model_servers: dict[str, ModelServer]
) -> None:
    cluster.add_deployment("blue", replicas=1)
    cluster.add_service(SERVICE, {"app": SERVICE, "env": "blue"})
    _settled(plane, weights={"blue": 100.0, "green": 0.0}, ready={"blue": 1, "green": 0})
    started = time.monotonic()
    run = plane.run_load(50, 30.0, feedback_fraction=0.0, seed=9)
    time.sleep(0.3)

    stats = run.stop()

    assert time.monotonic() - started < 5.0
    assert 0 < stats.dispatched < 1_500
    assert stats.per_env["blue"].requests == fetch_predictions(model_servers["blue"])
