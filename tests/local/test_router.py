"""The local platform's router over the real weighted proxy and real model servers.

``LocalRouter`` implements the ``TrafficRouter`` port: every split it applies or observes
sums to 100%, the proxy's weights to 10000 basis points; a refusal changes nothing and
stands until the environment can serve; prediction traffic follows the weights from the
first requests on, and feedback goes to the environment that made the prediction.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from mlrollout.controller.localrouter import LocalRouter
from mlrollout.errors import RouterError
from mlrollout.local import ModelServer, ServerConfig
from mlrollout.local.proxy import WeightedProxy
from mlrollout.spec.status import TOTAL_BASIS_POINTS, EnvName, TrafficSplit


class Servers:
    """The ``Serving`` side: which environments can serve, and where (hand-written fake)."""

    def __init__(self, urls: dict[str, str | None]) -> None:
        self.urls = urls
        self.asked: list[str] = []

    def serve(self, env: EnvName) -> str | None:
        self.asked.append(env)
        return self.urls.get(env)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, ModelServer]]:
    blue = ModelServer(ServerConfig(environment="blue", base_latency_s=0.0005)).start()
    green = ModelServer(ServerConfig(environment="green", base_latency_s=0.0005, seed=2)).start()
    try:
        yield {"blue": blue, "green": green}
    finally:
        blue.stop()
        green.stop()


@pytest.fixture
def proxy() -> Iterator[WeightedProxy]:
    running = WeightedProxy().start()
    try:
        yield running
    finally:
        running.stop()


def _split(canary: float, stable: EnvName = "blue") -> TrafficSplit:
    other: EnvName = "green" if stable == "blue" else "blue"
    return TrafficSplit(stable_env=stable, canary_env=other, canaryWeight=canary)


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, json.loads(response.read())


@pytest.mark.parametrize("canary", [0.0, 0.01, 5.0, 33.33, 50.0, 99.99, 100.0])
@pytest.mark.parametrize("stable", ["blue", "green"])
def test_every_split_sums_to_100(
    canary: float, stable: EnvName, proxy: WeightedProxy, servers: dict[str, ModelServer]
) -> None:
    router = LocalRouter(proxy, Servers({e: s.url for e, s in servers.items()}))
    achieved = router.shift(_split(canary, stable))
    assert achieved.canary_percent == canary
    routed = proxy.weights()  # what the proxy routes by, in basis points
    assert sum(routed.values()) == TOTAL_BASIS_POINTS
    assert routed == {stable: achieved.stable_bp, achieved.canary_env: achieved.canary_bp}
    for view in ("blue", "green"):
        seen = router.observe(view)
        assert routed == {seen.stable_env: seen.stable_bp, seen.canary_env: seen.canary_bp}
    assert router.observe(stable).canary_bp == round(canary * 100)


def test_the_proxy_refuses_weights_that_do_not_sum_to_100(proxy: WeightedProxy) -> None:
    proxy.set_backend("blue", "http://127.0.0.1:9")
    proxy.set_backend("green", "http://127.0.0.1:9")
    for bad in ({"blue": 5000, "green": 4000}, {"blue": 11000, "green": -1000}, {"red": 1}):
        with pytest.raises(ValueError, match=r"sum to 10000|unknown environments"):
            proxy.set_weights(bad)
        assert proxy.weights() == {"blue": TOTAL_BASIS_POINTS, "green": 0}


def test_a_refused_shift_changes_nothing_and_the_refusal_stands(
    proxy: WeightedProxy, servers: dict[str, ModelServer]
) -> None:
    serving = Servers({"blue": servers["blue"].url, "green": None})
    router = LocalRouter(proxy, serving)
    router.shift(_split(0))
    for _ in range(3):  # sticky: every attempt is refused again, nothing half-applied
        with pytest.raises(RouterError, match="green"):
            router.shift(_split(25))
        assert router.observe("blue").canary_percent == 0
        assert proxy.weights() == {"blue": TOTAL_BASIS_POINTS, "green": 0}
    serving.urls["green"] = servers["green"].url  # the environment can serve now
    assert router.shift(_split(25)).canary_percent == 25
    assert router.observe("blue").canary_percent == 25


def test_a_backend_with_traffic_cannot_be_removed(
    proxy: WeightedProxy, servers: dict[str, ModelServer]
) -> None:
    router = LocalRouter(proxy, Servers({e: s.url for e, s in servers.items()}))
    router.shift(_split(50))
    with pytest.raises(ValueError, match="traffic"):
        proxy.set_backend("green", None)
    router.release("blue")
    proxy.set_backend("green", None)
    assert "green" not in proxy.backends()


def test_predictions_follow_the_weights_and_feedback_returns_to_its_environment(
    proxy: WeightedProxy, servers: dict[str, ModelServer]
) -> None:
    router = LocalRouter(proxy, Servers({e: s.url for e, s in servers.items()}))
    router.shift(_split(20))
    answered: dict[str, list[str]] = {"blue": [], "green": []}
    for _ in range(50):
        status, body = _post(proxy.url + "/predict", {"features": [0.1, 0.2, 0.3, 0.4]})
        if status == 200:
            answered[body["request_id"].split("-")[0]].append(body["request_id"])
    assert len(answered["green"]) == 10  # smooth round-robin: exactly 20% of 50
    assert len(answered["blue"]) == 40
    router.release("blue")  # feedback still reaches green, which made the prediction
    status, body = _post(proxy.url + "/feedback", {"request_id": answered["green"][0], "label": 1})
    assert status == 200
    assert isinstance(body["correct"], bool)
