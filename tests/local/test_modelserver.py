"""The reference model server over real HTTP: metrics, feedback, regressions, admin, limits."""

from __future__ import annotations

import itertools
import json
import socket
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlrollout.local import LoadPlan, ModelServer, Regressions, ServerConfig, send_load
from mlrollout.local.instruments import compute_geometric_buckets
from mlrollout.local.model import SyntheticTask, fit_model


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer(ServerConfig(environment="blue", base_latency_s=0.001)) as running:
        yield running


def _call(url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def _samples(server: ModelServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = _call(server.url + "/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(server: ModelServer, name: str, **labels: str) -> float:
    return _samples(server).get(
        (name, tuple(sorted({"environment": "blue", **labels}.items()))), 0.0
    )


def test_model_is_accurate_on_its_task() -> None:
    task = SyntheticTask()
    features, labels = task.sample(np.random.default_rng(99), 2000)
    accuracy = float((fit_model(task).predict(features) == labels).mean())
    assert 0.85 < accuracy < 0.99


def test_geometric_buckets_resolve_a_five_percent_margin() -> None:
    bounds = compute_geometric_buckets(0.01, 1.0, 1.024)
    ratios = [b / a for a, b in itertools.pairwise(bounds)]
    assert bounds[0] == 0.01
    assert bounds[-1] >= 1.0
    assert max(ratios) <= 1.025
    assert min(ratios) > 1.02


def test_predict_and_feedback_are_counted(server: ModelServer) -> None:
    task = SyntheticTask()
    features, labels = task.sample(np.random.default_rng(5), 20)
    correct = 0
    for row, label in zip(features, labels, strict=True):
        status, body = _call(server.url + "/predict", {"features": [float(x) for x in row]})
        assert status == 200
        answer = json.loads(body)
        status, body = _call(
            server.url + "/feedback", {"request_id": answer["request_id"], "label": int(label)}
        )
        assert status == 200
        correct += json.loads(body)["correct"]
    assert _value(server, "model_requests_total", status="200") == 20
    assert _value(server, "model_request_duration_seconds_count") == 20
    assert _value(server, "model_labelled_predictions_total", outcome="correct") == correct
    assert _value(server, "model_labelled_predictions_total", outcome="incorrect") == 20 - correct


def test_feedback_for_unknown_or_repeated_request_is_refused(server: ModelServer) -> None:
    _status, body = _call(server.url + "/predict", {"features": [0.0, 0.0, 0.0, 0.0]})
    request_id = json.loads(body)["request_id"]
    assert _call(server.url + "/feedback", {"request_id": request_id, "label": 1})[0] == 200
    assert _call(server.url + "/feedback", {"request_id": request_id, "label": 1})[0] == 404
    assert _call(server.url + "/feedback", {"request_id": "nope", "label": 1})[0] == 404
    assert _call(server.url + "/feedback", {"request_id": request_id, "label": 7})[0] == 400


@pytest.mark.parametrize(
    "body",
    [{"features": [1, 2]}, {"features": ["a", 1, 2, 3]}, {"x": 1}, [1, 2, 3, 4]],
    ids=["short", "strings", "no-features", "not-object"],
)
def test_malformed_predict_is_400_and_counted(server: ModelServer, body: Any) -> None:
    assert _call(server.url + "/predict", body)[0] == 400
    assert _value(server, "model_requests_total", status="400") == 1


def test_regressions_take_effect_at_runtime(server: ModelServer) -> None:
    status, body = _call(
        server.url + "/admin/regressions",
        {"error_rate": 1.0, "anomaly_rate": 1.0, "anomaly_sources": 2},
    )
    assert status == 200
    assert json.loads(body)["error_rate"] == 1.0
    for _ in range(10):
        assert _call(server.url + "/predict", {"features": [0.0] * 4})[0] == 500
    assert _value(server, "model_requests_total", status="500") == 10
    anomalies = [
        v for (name, _), v in _samples(server).items() if name == "model_security_anomalies_total"
    ]
    assert sum(anomalies) == 10
    assert len(anomalies) <= 2


def test_accuracy_drop_flips_predictions(server: ModelServer) -> None:
    body = {"features": [0.0, 0.0, 0.0, 0.0]}
    before = {json.loads(_call(server.url + "/predict", body)[1])["prediction"] for _ in range(5)}
    server.regressions.apply({"accuracy_drop": 1.0})
    after = {json.loads(_call(server.url + "/predict", body)[1])["prediction"] for _ in range(5)}
    assert len(before) == len(after) == 1
    assert before != after


def test_latency_factor_slows_requests() -> None:
    config = ServerConfig(environment="blue", base_latency_s=0.004, regressions=Regressions())
    with ModelServer(config) as running:
        for factor in (1.0, 5.0):
            running.regressions.apply({"latency_factor": factor})
            for _ in range(10):
                _call(running.url + "/predict", {"features": [0.0] * 4})
        samples = _samples(running)
    total = samples[("model_request_duration_seconds_sum", (("environment", "blue"),))]
    fast_bucket = samples[
        ("model_request_duration_seconds_bucket", (("environment", "blue"), ("le", "0.01")))
    ]
    assert 0.1 < total < 1.0
    assert 8 <= fast_bucket <= 12


def test_anomaly_burst_spreads_over_sources(server: ModelServer) -> None:
    assert _call(server.url + "/admin/anomalies", {"count": 9, "sources": 3})[0] == 200
    assert _value(server, "model_security_anomalies_total", source="source-2") == 3


def test_bad_regression_settings_are_refused(server: ModelServer) -> None:
    assert _call(server.url + "/admin/regressions", {"error_rate": 2})[0] == 400
    assert _call(server.url + "/admin/regressions", {"bogus": 1})[0] == 400
    assert json.loads(_call(server.url + "/admin/regressions")[1])["error_rate"] == 0.0


def test_healthz_and_unknown_paths(server: ModelServer) -> None:
    assert _call(server.url + "/healthz")[0] == 200
    assert _call(server.url + "/nope")[0] == 404


def test_non_loopback_is_refused() -> None:
    with pytest.raises(ValueError, match="loopback"):
        ModelServer(ServerConfig(environment="blue", host="0.0.0.0"))
    with pytest.raises(ValueError, match="loopback"):
        LoadPlan(target="http://example.com:80")


def test_load_generator_is_bounded_and_labels(server: ModelServer) -> None:
    plan = LoadPlan(
        target=server.url, rate=200, duration_s=1, max_requests=30, feedback_fraction=0.5
    )
    report = send_load(plan)
    assert report.sent == 30
    assert report.statuses == {200: 30}
    assert 5 <= report.feedback <= 25
    labelled = _value(server, "model_labelled_predictions_total", outcome="correct") + _value(
        server, "model_labelled_predictions_total", outcome="incorrect"
    )
    assert labelled == report.feedback


def test_a_client_that_hangs_up_early_prints_no_traceback(
    server: ModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scrape that timed out closes its connection before the answer is written."""
    host, port = server.url.removeprefix("http://").split(":")
    for _ in range(5):
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.3)
    assert _call(server.url + "/metrics")[0] == 200
    assert "Traceback" not in capsys.readouterr().err
