"""The local provider: scrapes of model-server exposition text, increases and distinct counts.

Fast tests serve real exposition text (``local.instruments.ServerMetrics`` rendered by
prometheus-client) through respx, scraped at fake-clock times; the expected observations are
written out by hand. The live tests start two reference model servers on loopback, send real
load and compare the provider's windows with what the load generator saw and, marked
``prometheus``, with what the Prometheus provider returns for the same servers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx
import yaml
from prometheus_client import generate_latest

from mlrollout.analysis.observations import EventCounts, Histogram, Measurement, WindowStatus
from mlrollout.errors import SpecError
from mlrollout.local import LoadPlan, LoadReport, ModelServer, Regressions, ServerConfig, send_load
from mlrollout.local.instruments import ServerMetrics
from mlrollout.metrics import (
    LocalProvider,
    MetricRequest,
    PrometheusProvider,
    VariantScope,
    record_windows,
)
from mlrollout.metrics.local import compute_exposition_samples
from mlrollout.metrics.promapi import PromApi
from mlrollout.metrics.settings import PrometheusSettings
from mlrollout.spec.template import MetricSpec
from support.prometheus import PrometheusServer

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
GREEN = "http://127.0.0.1:9101/metrics"
BLUE = "http://127.0.0.1:9102/metrics"


def _metric(template: str, name: str) -> MetricSpec:
    document = yaml.safe_load((ROOT / "analyses" / f"{template}.yaml").read_text())
    [found] = [m for m in document["spec"]["metrics"] if m["name"] == name]
    return MetricSpec.model_validate(found)


def _request(template: str, name: str) -> MetricRequest:
    return MetricRequest(
        template=template,
        metric=_metric(template, name),
        canary=VariantScope("green", {"environment": "green"}),
        baseline=VariantScope("blue", {"environment": "blue"}),
        namespace="ml-prod",
        service="fraud-scorer",
        args={"pod_label": "exported_pod", "namespace_label": "exported_namespace"},
    )


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.at.timestamp()

    def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class Sandbox:
    """Two servers' metrics served through respx, scraped by a provider at fake times."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.green = ServerMetrics("green")
        self.blue = ServerMetrics("blue")
        self.clock = FakeClock()
        self.provider = LocalProvider([GREEN, BLUE], clock=self.clock)
        router.get(GREEN).mock(side_effect=lambda _: self._exposition(self.green))
        router.get(BLUE).mock(side_effect=lambda _: self._exposition(self.blue))

    @staticmethod
    def _exposition(metrics: ServerMetrics) -> httpx.Response:
        return httpx.Response(200, content=generate_latest(metrics.registry))

    def scrape_at(self, seconds: float) -> None:
        self.clock.at = T0 + timedelta(seconds=seconds)
        report = self.provider.fetch_samples()
        assert report.failed == {}

    def windows(self, template: str, name: str, *steps: float) -> list:
        bounds = [T0 + timedelta(seconds=s) for s in steps]
        return self.provider.fetch_windows(_request(template, name), boundaries=bounds)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with respx.mock(assert_all_called=False) as router:
        yield Sandbox(router)


def _requests(metrics: ServerMetrics, *, ok: int, failed: int, seconds: float = 0.02) -> None:
    for _ in range(ok):
        metrics.observe_request(status=200, seconds=seconds)
    for _ in range(failed):
        metrics.observe_request(status=500, seconds=seconds)


def test_exposition_samples_carry_name_instance_and_labels() -> None:
    metrics = ServerMetrics("green")
    _requests(metrics, ok=2, failed=1)
    text = generate_latest(metrics.registry).decode()
    samples = dict(compute_exposition_samples(text, instance="h:1"))
    key = (
        ("__name__", "model_requests_total"),
        ("environment", "green"),
        ("instance", "h:1"),
        ("status", "500"),
    )
    assert samples[key] == 1.0
    names = {dict(k)["__name__"] for k in samples}
    assert {"model_request_duration_seconds_bucket", "model_labelled_predictions_total"} <= names


def test_error_counts_per_window_survive_a_restart(sandbox: Sandbox) -> None:
    sandbox.scrape_at(0)
    _requests(sandbox.green, ok=90, failed=10)
    _requests(sandbox.blue, ok=380, failed=20)
    sandbox.scrape_at(10)
    sandbox.green = ServerMetrics("green")  # the canary restarts: its counters start over
    _requests(sandbox.green, ok=45, failed=5)
    _requests(sandbox.blue, ok=190, failed=10)
    sandbox.scrape_at(20)
    first, second = sandbox.windows("errors", "error-rate", 0, 10, 20)
    assert (first.canary, first.baseline) == (EventCounts(10, 100), EventCounts(20, 400))
    assert (second.canary, second.baseline) == (EventCounts(5, 50), EventCounts(10, 200))
    [whole] = sandbox.windows("errors", "error-rate", 0, 20)
    assert whole.canary == EventCounts(15, 150)


def test_accuracy_counts_labelled_examples(sandbox: Sandbox) -> None:
    sandbox.scrape_at(0)
    for correct, n in ((True, 27), (False, 3)):
        for _ in range(n):
            sandbox.green.observe_feedback(correct=correct)
    for _ in range(50):
        sandbox.blue.observe_feedback(correct=True)
    sandbox.scrape_at(15)
    [window] = sandbox.windows("accuracy", "accuracy", 0, 15)
    assert (window.canary, window.baseline) == (EventCounts(3, 30), EventCounts(0, 50))


def test_latency_buckets_become_a_histogram(sandbox: Sandbox) -> None:
    sandbox.scrape_at(0)
    _requests(sandbox.green, ok=3, failed=0, seconds=0.0101)
    _requests(sandbox.green, ok=1, failed=0, seconds=3.0)
    _requests(sandbox.blue, ok=2, failed=0, seconds=0.0101)
    sandbox.scrape_at(5)
    [window] = sandbox.windows("latency", "latency-body", 0, 5)
    canary = window.canary
    assert isinstance(canary, Histogram)
    assert (canary.total_count, canary.total_sum) == (4, pytest.approx(3.0303))
    assert len(canary.bounds) == len(canary.counts) > 150
    slow_from = canary.bounds.index(2.5)
    assert canary.bounds[:4] == (0.001, 0.0025, 0.005, 0.01)
    assert canary.counts[:4] == (0, 0, 0, 0)
    assert set(canary.counts[4:slow_from]) == {3}
    assert canary.counts[slow_from:] == (3, 4, 4)
    assert canary.count_above(2.5) == 1
    assert isinstance(window.baseline, Histogram)
    assert window.baseline.total_count == 2


def test_anomaly_sources_count_counters_born_inside_the_window(sandbox: Sandbox) -> None:
    sandbox.scrape_at(0)
    _requests(sandbox.blue, ok=1, failed=0)
    sandbox.scrape_at(10)
    sandbox.green.observe_anomalies("attacker-1")
    sandbox.scrape_at(20)
    sandbox.green.observe_anomalies("attacker-1", 2)
    sandbox.green.observe_anomalies("attacker-2")
    sandbox.scrape_at(30)
    windows = sandbox.windows("security-anomalies", "server-anomalies", 0, 10, 20, 30)
    canary = [w.canary for w in windows]
    assert canary == [
        EventCounts(events=0, exposure=0, sources=0),
        EventCounts(events=0, exposure=0, sources=1),  # born at 1: not an increase, a source
        EventCounts(events=2, exposure=0, sources=2),
    ]
    assert {w.baseline for w in windows} == {EventCounts(events=0, exposure=0, sources=0)}


def test_series_present_at_the_first_scrape_are_not_born(sandbox: Sandbox) -> None:
    sandbox.green.observe_anomalies("old")
    sandbox.scrape_at(0)
    sandbox.scrape_at(10)
    [window] = sandbox.windows("security-anomalies", "server-anomalies", 0, 10)
    assert window.canary == EventCounts(events=0, exposure=0, sources=0)


def test_a_failing_target_gives_empty_windows_never_numbers() -> None:
    with respx.mock() as router:
        router.get(GREEN).mock(return_value=httpx.Response(503))
        router.get(BLUE).mock(side_effect=httpx.ConnectError("refused"))
        clock = FakeClock()
        provider = LocalProvider([GREEN, BLUE], clock=clock)
        report = provider.fetch_samples()
        clock.sleep(10)
        provider.fetch_samples()
    assert report.scraped == ()
    assert set(report.failed) == {GREEN, BLUE}
    assert "503" in report.failed[GREEN]
    [window] = record_windows(
        provider, _request("errors", "error-rate"), boundaries=[T0, T0 + timedelta(seconds=10)]
    )
    assert window.status is WindowStatus.EMPTY


def test_nan_samples_are_no_data() -> None:
    text = 'model_requests_total{environment="green",status="200"} NaN\n'
    clock = FakeClock()
    with respx.mock() as router:
        router.get(GREEN).mock(return_value=httpx.Response(200, text=text))
        router.get(BLUE).mock(return_value=httpx.Response(200, text=text.replace("green", "blue")))
        provider = LocalProvider([GREEN, BLUE], clock=clock)
        provider.fetch_samples()
        clock.sleep(10)
        provider.fetch_samples()
    [window] = provider.fetch_windows(
        _request("errors", "error-rate"), boundaries=[T0, T0 + timedelta(seconds=10)]
    )
    assert window.status is WindowStatus.EMPTY


def test_queries_beyond_counters_and_distinct_counts_are_spec_errors(sandbox: Sandbox) -> None:
    sandbox.scrape_at(0)
    with pytest.raises(SpecError) as caught:
        sandbox.windows("gpu-health", "gpu-memory", 0, 10)
    assert caught.value.source == "AnalysisTemplate/gpu-health"
    assert caught.value.path == "gpu-memory.provider.prometheus.queries.value"
    assert "configure a Prometheus" in caught.value.reason


def test_old_samples_are_pruned_but_the_last_before_the_cut_is_kept() -> None:
    with respx.mock() as router:
        metrics = ServerMetrics("green")
        router.get(GREEN).mock(
            side_effect=lambda _: httpx.Response(200, content=generate_latest(metrics.registry))
        )
        clock = FakeClock()
        provider = LocalProvider([GREEN], clock=clock, retention=timedelta(seconds=25))
        for _ in range(6):
            _requests(metrics, ok=1, failed=0)
            provider.fetch_samples()
            clock.sleep(10)
    key = next(k for k in provider._series if dict(k)["__name__"] == "model_requests_total")
    assert [t - T0.timestamp() for t, _ in provider._series[key].samples] == [20, 30, 40, 50]


def test_targets_may_be_host_port_or_urls() -> None:
    provider = LocalProvider(["127.0.0.1:8081", "http://h:1", "https://h:2/custom"])
    assert provider.targets == (
        "http://127.0.0.1:8081/metrics",
        "http://h:1/metrics",
        "https://h:2/custom",
    )
    provider.close()
    with pytest.raises(ValueError, match="http"):
        LocalProvider(["ftp://h/x"])


# --- live: two reference model servers on loopback -------------------------------------

CANARY = Regressions(
    latency_factor=1.5, error_rate=0.2, accuracy_drop=0.3, anomaly_rate=0.2, anomaly_sources=3
)
LIVE = (
    ("errors", "error-rate"),
    ("accuracy", "accuracy"),
    ("latency", "latency-body"),
    ("security-anomalies", "server-anomalies"),
)


@pytest.fixture
def servers() -> Iterator[tuple[ModelServer, ModelServer]]:
    blue = ModelServer(ServerConfig(environment="blue", seed=1)).start()
    green = ModelServer(ServerConfig(environment="green", seed=2, regressions=CANARY)).start()
    yield blue, green
    blue.stop()
    green.stop()


def _load(servers: tuple[ModelServer, ...]) -> list[LoadReport]:
    reports = [LoadReport() for _ in servers]

    def run(index: int) -> None:
        plan = LoadPlan(target=servers[index].url, rate=40, duration_s=2, seed=index)
        reports[index] = send_load(plan)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(servers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return reports


def _observed(provider: LocalProvider | PrometheusProvider, start: datetime, end: datetime) -> dict:
    out: dict[str, tuple[Measurement | None, Measurement | None]] = {}
    for template, name in LIVE:
        [window] = provider.fetch_windows(_request(template, name), boundaries=[start, end])
        assert window.status is WindowStatus.OK, (template, name)
        out[name] = (window.canary, window.baseline)
    return out


@pytest.mark.slow
def test_live_servers_counts_match_the_load(servers: tuple[ModelServer, ModelServer]) -> None:
    provider = LocalProvider([s.url for s in servers])
    provider.fetch_samples()
    start = datetime.now(UTC)
    blue, green = _load(servers)
    provider.fetch_samples()
    end = datetime.now(UTC)
    try:
        seen = _observed(provider, start, end)
    finally:
        provider.close()
    assert seen["error-rate"] == (
        EventCounts(events=green.statuses.get(500, 0), exposure=green.sent),
        EventCounts(events=0, exposure=blue.sent),
    )
    canary, baseline = seen["accuracy"]
    assert isinstance(canary, EventCounts)
    assert isinstance(baseline, EventCounts)
    assert (canary.exposure, baseline.exposure) == (green.feedback, blue.feedback)
    assert canary.events / canary.exposure > baseline.events / baseline.exposure + 0.1
    canary, baseline = seen["latency-body"]
    assert isinstance(canary, Histogram)
    assert isinstance(baseline, Histogram)
    assert (canary.total_count, baseline.total_count) == (green.sent, blue.sent)
    canary, baseline = seen["server-anomalies"]
    assert canary == EventCounts(events=canary.events, exposure=0, sources=3), (
        "20% of 80 requests over 3 sources: every source is seen"
    )
    assert baseline == EventCounts(events=0, exposure=0, sources=0)


def _wait_for_scrapes(url: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = httpx.get(f"{url}/api/v1/query", params={"query": "sum(up)"}).json()
        result = answer["data"]["result"]
        if result and float(result[0]["value"][1]) == count:
            return
        time.sleep(0.2)
    raise AssertionError("targets were not scraped within 10 s")


def _same(local: Measurement | None, remote: Measurement | None) -> bool:
    if isinstance(local, Histogram) and isinstance(remote, Histogram):
        return (local.bounds, local.counts, local.total_count) == (
            remote.bounds,
            remote.counts,
            remote.total_count,
        ) and local.total_sum == pytest.approx(remote.total_sum, rel=1e-9)
    return local == remote


@pytest.mark.prometheus
def test_local_and_prometheus_providers_agree_on_live_servers(
    servers: tuple[ModelServer, ModelServer],
    prometheus_factory: Callable[..., PrometheusServer],
) -> None:
    prom = prometheus_factory(targets=[s.url.removeprefix("http://") for s in servers])
    _wait_for_scrapes(prom.url, 2)
    local = LocalProvider([s.url for s in servers])
    local.fetch_samples()
    time.sleep(1.2)
    start = datetime.now(UTC)
    _load(servers)
    time.sleep(2.5)
    local.fetch_samples()
    end = datetime.now(UTC)
    remote = PrometheusProvider(PromApi(PrometheusSettings(url=prom.url)))
    try:
        mine, theirs = _observed(local, start, end), _observed(remote, start, end)
    finally:
        local.close()
        remote.close()
    for name, (canary, baseline) in mine.items():
        if name != "server-anomalies":
            assert _same(canary, theirs[name][0]), (name, canary, theirs[name][0])
            assert _same(baseline, theirs[name][1]), (name, baseline, theirs[name][1])
    # Anomaly counters are born at their first event; neither provider counts a series' first
    # value as an increase, so `events` depends on how often each one scraped (twice here,
    # every second for Prometheus). Distinct sources do not: both count born series.
    [(local_canary, local_baseline), (prom_canary, prom_baseline)] = [
        seen["server-anomalies"] for seen in (mine, theirs)
    ]
    assert isinstance(local_canary, EventCounts)
    assert isinstance(prom_canary, EventCounts)
    assert local_canary.sources == prom_canary.sources == 3
    assert local_canary.events <= prom_canary.events
    assert local_baseline == prom_baseline == EventCounts(events=0, exposure=0, sources=0)
