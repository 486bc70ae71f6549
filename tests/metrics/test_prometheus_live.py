"""Live scraping: two reference model servers, real load, a real Prometheus, the provider.

The baseline (``blue``) is healthy; the canary (``green``) is slower, fails 20% of requests
and has a 30% accuracy drop. After a few seconds of load the provider must return counts
that match what the load generator saw and show each regression (under ~15 s in all).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from mlrollout.analysis.observations import EventCounts, Histogram, WindowStatus
from mlrollout.local import LoadPlan, LoadReport, ModelServer, Regressions, ServerConfig, send_load
from mlrollout.metrics import MetricRequest, PrometheusProvider, VariantScope
from mlrollout.metrics.promapi import PromApi
from mlrollout.metrics.settings import PrometheusSettings
from mlrollout.spec.template import MetricSpec
from support.prometheus import PrometheusServer

pytestmark = pytest.mark.prometheus

ROOT = Path(__file__).resolve().parents[2]
CANARY = Regressions(latency_factor=1.6, error_rate=0.2, accuracy_drop=0.3)


@pytest.fixture
def servers() -> Iterator[tuple[ModelServer, ModelServer]]:
    blue = ModelServer(ServerConfig(environment="blue", seed=1)).start()
    green = ModelServer(ServerConfig(environment="green", seed=2, regressions=CANARY)).start()
    yield blue, green
    blue.stop()
    green.stop()


def _metric(template: str, name: str) -> MetricSpec:
    document = yaml.safe_load((ROOT / "analyses" / f"{template}.yaml").read_text())
    [found] = [m for m in document["spec"]["metrics"] if m["name"] == name]
    return MetricSpec.model_validate(found)


def _wait_for_targets(url: str, count: int) -> None:
    deadline = time.monotonic() + 10
    query = urllib.parse.quote("sum(up)")
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/v1/query?query={query}", timeout=2) as response:
            result = json.load(response)["data"]["result"]
        if result and float(result[0]["value"][1]) == count:
            return
        time.sleep(0.2)
    raise AssertionError("targets were not scraped within 10 s")


def _load(servers: tuple[ModelServer, ...]) -> list[LoadReport]:
    reports: list[LoadReport] = [LoadReport() for _ in servers]

    def run(index: int) -> None:
        plan = LoadPlan(target=servers[index].url, rate=40, duration_s=3, seed=index)
        reports[index] = send_load(plan)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(servers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return reports


def test_live_scrape_of_two_model_servers(
    servers: tuple[ModelServer, ModelServer],
    prometheus_factory: Callable[..., PrometheusServer],
) -> None:
    targets = [s.url.removeprefix("http://") for s in servers]
    prom = prometheus_factory(targets=targets)
    _wait_for_targets(prom.url, 2)
    time.sleep(1.2)
    start = datetime.now(UTC)
    blue_report, green_report = _load(servers)
    time.sleep(2.5)
    end = datetime.now(UTC)

    provider = PrometheusProvider(PromApi(PrometheusSettings(url=prom.url)))

    def window(template: str, name: str) -> tuple[object, object]:
        request = MetricRequest(
            template=template,
            metric=_metric(template, name),
            canary=VariantScope("green", {"environment": "green"}),
            baseline=VariantScope("blue", {"environment": "blue"}),
        )
        [found] = provider.fetch_windows(request, boundaries=[start, end])
        assert found.status is WindowStatus.OK
        return found.canary, found.baseline

    canary, baseline = window("errors", "error-rate")
    assert canary == EventCounts(
        events=green_report.statuses.get(500, 0), exposure=green_report.sent
    )
    assert baseline == EventCounts(events=0, exposure=blue_report.sent)
    assert blue_report.sent == green_report.sent == 120
    assert 0.08 < canary.events / canary.exposure < 0.35

    canary, baseline = window("accuracy", "accuracy")
    assert isinstance(canary, EventCounts)
    assert isinstance(baseline, EventCounts)
    assert (canary.exposure, baseline.exposure) == (green_report.feedback, blue_report.feedback)
    assert canary.events / canary.exposure > baseline.events / baseline.exposure + 0.1

    canary, baseline = window("latency", "latency-body")
    assert isinstance(canary, Histogram)
    assert isinstance(baseline, Histogram)
    assert (canary.total_count, baseline.total_count) == (green_report.sent, blue_report.sent)
    assert len(canary.bounds) > 150
    ratio = (canary.total_sum / canary.total_count) / (baseline.total_sum / baseline.total_count)
    assert 1.3 < ratio < 2.0
    provider.close()
