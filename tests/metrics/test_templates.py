"""Every shipped template's queries against a real Prometheus holding exporter-shaped history.

One backfilled Prometheus holds 10 minutes (15 s scrapes) of series shaped like what the real
exporters expose: the reference model server (``environment`` label), Falcosidekick
(``falcosecurity_falcosidekick_falco_events_total{rule, priority, k8s_ns_name, k8s_pod_name,
...}``, a series born at each rule's first event), the DCGM exporter (gauges relabelled
``exported_pod``/``exported_namespace`` by a ServiceMonitor), Istio sidecars (both reporters)
and vLLM (relabelled with ``environment``), for a canary (green) and a baseline (blue) plus
decoys (another namespace, a similarly named Deployment, another reporter) that must never
be counted. Each test renders a template's metric through the Prometheus provider for the
window (150 s, 450 s] and asserts the exact observation; expected numbers are sums of the
increments written here (a series' first value is never an increase: provider semantics).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlrollout.analysis.observations import EventCounts, Histogram, Measurement, ScalarValue
from mlrollout.metrics import MetricRequest, PrometheusProvider, VariantScope
from mlrollout.metrics.promapi import PromApi
from mlrollout.metrics.settings import PrometheusSettings
from mlrollout.spec.loader import load_paths
from mlrollout.spec.template import MetricSpec
from support.prometheus import (
    PrometheusServer,
    backfill_openmetrics,
    compose_openmetrics,
    require_prometheus,
    start_prometheus,
)

pytestmark = pytest.mark.prometheus

ROOT = Path(__file__).resolve().parents[2]
STEP, STEPS = 15, 40
LO, HI = 150, 450
INSIDE = [i for i in range(STEPS) if LO < i * STEP <= HI]
NS, SERVICE = "ml-prod", "fraud-scorer"
POD = {"green": "fraud-scorer-green-7d9c6b5f4-x8k2p", "blue": "fraud-scorer-blue-5f6b7c8d9-q4w7z"}
Labels = tuple[tuple[str, str], ...]


def inc(*pairs: tuple[int, float], born: int = 0) -> list[float | None]:
    """Per-step increments: ``{index: increment}``; ``None`` before the series is born."""
    out: list[float | None] = [None] * born + [0.0] * (STEPS - born)
    for index, value in pairs:
        out[index] = value
    return out


def steady(per_step: float, *, born: int = 0) -> list[float | None]:
    """The same increment every step from ``born``."""
    return [None] * born + [float(per_step)] * (STEPS - born)


def expected(increments: Sequence[float | None]) -> float:
    """Increase inside (LO, HI]: a series' first value (its birth) is not an increase."""
    first = next(i for i, v in enumerate(increments) if v is not None)
    return sum(increments[i] or 0.0 for i in INSIDE if i > first)


class History:
    """Series to backfill: counters from increments, gauges from values."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.series: dict[tuple[str, Labels], list[tuple[float, float]]] = {}

    def counter(self, name: str, labels: dict[str, str], increments: Sequence[float | None]):
        total, samples = 0.0, []
        for index, step in enumerate(increments):
            if step is not None:
                total += step
                samples.append((self.start + index * STEP, total))
        self.series[(name, tuple(sorted(labels.items())))] = samples
        return increments

    def gauge(self, name: str, labels: dict[str, str], values: Sequence[float]) -> None:
        samples = [(self.start + i * STEP, float(v)) for i, v in enumerate(values)]
        self.series[(name, tuple(sorted(labels.items())))] = samples


# --- the reference model server ---------------------------------------------------------

MODEL = {
    "green": {"200": steady(18), "500": steady(2), "correct": steady(5), "incorrect": steady(1)},
    "blue": {"200": steady(57), "500": steady(1), "correct": steady(16), "incorrect": steady(1)},
}
LATENCY = {"green": (8, 9, 3), "blue": (40, 16, 2)}
"""Requests per step with latency <= 0.05 s, in (0.05, 0.1] s, and > 0.1 s."""
ANOMALIES = {
    "green": {
        "s-0": inc((0, 5.0)),  # old source, quiet in the window
        "s-1": inc((12, 1.0), (18, 2.0), born=12),  # born in the window, then +2
        "s-2": inc((26, 1.0), born=26),  # born in the window, never increases
    },
    "blue": {},
}


def _model_server(history: History) -> None:
    for env, counts in MODEL.items():
        base = {"environment": env, "pod": POD[env], "instance": f"{env}:8080", "job": "models"}
        for status in ("200", "500"):
            history.counter("model_requests_total", {**base, "status": status}, counts[status])
        for outcome in ("correct", "incorrect"):
            labels = {**base, "outcome": outcome}
            history.counter("model_labelled_predictions_total", labels, counts[outcome])
        fast, mid, slow = LATENCY[env]
        for le, n in (("0.05", fast), ("0.1", fast + mid), ("+Inf", fast + mid + slow)):
            labels = {**base, "le": le}
            history.counter("model_request_duration_seconds_bucket", labels, steady(n))
        history.counter("model_request_duration_seconds_count", base, steady(fast + mid + slow))
        history.counter("model_request_duration_seconds_sum", base, steady(0.5 * (fast + mid)))
        for source, increments in ANOMALIES[env].items():
            labels = {**base, "source": source}
            history.counter("model_security_anomalies_total", labels, increments)


# --- Falcosidekick -----------------------------------------------------------------------

FALCO_RULES = {
    "Write below etc": "Error",
    "Read sensitive file untrusted": "Warning",
    "Terminal shell in container": "Notice",
    "Launch Privileged Container": "Critical",
}
FALCO = [
    # (namespace, pod, rule, increments)
    (NS, POD["green"], "Write below etc", inc((14, 1.0), (16, 1.0), born=14)),
    (NS, POD["green"], "Read sensitive file untrusted", inc((25, 1.0), born=25)),
    (NS, POD["green"], "Terminal shell in container", inc((20, 3.0), (22, 4.0), born=20)),
    (NS, POD["green"], "Launch Privileged Container", inc((0, 4.0), (5, 2.0))),
    (NS, POD["blue"], "Launch Privileged Container", inc((0, 1.0), (20, 1.0))),
    ("other", POD["green"], "Write below etc", inc((15, 1.0), (17, 5.0), born=15)),
    (NS, "fraud-scorer-green-shadow-6c8d7f9b5-k2j4m", "Write below etc", inc((20, 2.0), (21, 1.0))),
]


def _falco(history: History) -> None:
    for namespace, pod, rule, increments in FALCO:
        labels = {
            "hostname": "gpu-node-1",
            "k8s_ns_name": namespace,
            "k8s_pod_name": pod,
            "priority": FALCO_RULES[rule],
            "rule": rule,
            "source": "syscall",
            "instance": "falcosidekick.falco:2801",
            "job": "falcosidekick",
        }
        history.counter("falcosecurity_falcosidekick_falco_events_total", labels, increments)


# --- DCGM exporter -----------------------------------------------------------------------

XID = {
    ("green", "0"): [0] * 13 + [79] * 9 + [13] * 18,  # two changes inside the window
    ("green", "1"): [0] * 28 + [48] * 12,  # one change inside the window
    ("blue", "0"): [0] * 5 + [31] * 35,  # a change before the window only
}
FB_AT_HI = {
    ("green", "0"): (72000, 9000),
    ("green", "1"): (30000, 51000),
    ("blue", "0"): (40000, 41000),
}


def _dcgm(history: History) -> None:
    for (env, gpu), values in XID.items():
        labels = {
            "gpu": gpu,
            "UUID": f"GPU-{env}-{gpu}",
            "device": f"nvidia{gpu}",
            "modelName": "NVIDIA A100-SXM4-80GB",
            "Hostname": "gpu-node-1",
            "exported_container": "model",
            "exported_namespace": NS,
            "exported_pod": POD[env],
            "namespace": "gpu-operator",
            "pod": "nvidia-dcgm-exporter-7x2kq",
            "instance": "10.0.3.7:9400",
            "job": "nvidia-dcgm-exporter",
        }
        history.gauge("DCGM_FI_DEV_XID_ERRORS", labels, values)
        used, free = FB_AT_HI[(env, gpu)]
        history.gauge("DCGM_FI_DEV_FB_USED", labels, [used] * STEPS)
        history.gauge("DCGM_FI_DEV_FB_FREE", labels, [free] * STEPS)


# --- Istio -------------------------------------------------------------------------------

ISTIO_BUCKETS = ("1", "2", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "+Inf")
ISTIO = {
    "green": {"200": 30, "503": 3, "404": 1, "latency_ms": (0, 0, 0, 2, 10, 14, 6, 2, 0, 0, 0)},
    "blue": {"200": 90, "503": 2, "404": 4, "latency_ms": (0, 0, 1, 9, 40, 36, 9, 1, 0, 0, 0)},
}
"""Requests per step by response code, and per step per bucket (not cumulative) + overflow."""


def _istio(history: History) -> None:
    for env, numbers in ISTIO.items():
        for reporter in ("destination", "source"):
            base = {
                "reporter": reporter,
                "destination_workload": f"{SERVICE}-{env}",
                "destination_workload_namespace": NS,
                "destination_service_name": SERVICE,
                "source_workload": "api-gateway",
                "instance": f"10.0.1.{len(env)}:15020",
            }
            for code in ("200", "503", "404"):
                labels = {**base, "response_code": code}
                history.counter("istio_requests_total", labels, steady(numbers[code]))
            per_bucket = numbers["latency_ms"]
            requests = numbers["200"] + numbers["503"] + numbers["404"]
            for index, le in enumerate(ISTIO_BUCKETS):
                cumulative = sum(per_bucket[: index + 1]) if le != "+Inf" else requests
                labels = {**base, "le": le}
                history.counter(
                    "istio_request_duration_milliseconds_bucket", labels, steady(cumulative)
                )
            history.counter("istio_request_duration_milliseconds_count", base, steady(requests))
            history.counter(
                "istio_request_duration_milliseconds_sum", base, steady(40.0 * requests)
            )


# --- vLLM --------------------------------------------------------------------------------

VLLM_BUCKETS = ("0.3", "0.5", "0.8", "1.0", "1.5", "2.0", "2.5", "5.0", "10.0", "+Inf")
VLLM = {
    "green": {"e2e": (0, 1, 3, 4, 2, 1, 0, 1, 0, 0), "ttft": (9, 2, 1, 0, 0, 0, 0, 0, 0, 0)},
    "blue": {"e2e": (1, 4, 9, 7, 2, 1, 0, 0, 0, 0), "ttft": (22, 2, 0, 0, 0, 0, 0, 0, 0, 0)},
}
VLLM_FINISHED = {
    "green": {"stop": 9, "length": 3, "abort": 0},
    "blue": {"stop": 22, "length": 1, "abort": 1},
}


def _vllm(history: History) -> None:
    for env, numbers in VLLM.items():
        base = {
            "environment": env,
            "model_name": "meta-llama/Llama-3.1-8B-Instruct",
            "pod": POD[env],
        }
        for metric in ("e2e_request_latency_seconds", "time_to_first_token_seconds"):
            per_bucket = numbers["e2e" if metric.startswith("e2e") else "ttft"]
            for index, le in enumerate(VLLM_BUCKETS):
                labels = {**base, "le": le}
                history.counter(
                    f"vllm:{metric}_bucket", labels, steady(sum(per_bucket[: index + 1]))
                )
            history.counter(f"vllm:{metric}_count", base, steady(sum(per_bucket)))
            history.counter(f"vllm:{metric}_sum", base, steady(1.25 * sum(per_bucket)))
        for reason, count in VLLM_FINISHED[env].items():
            labels = {**base, "finished_reason": reason}
            history.counter("vllm:request_success_total", labels, steady(count))


# --- the server and the provider ---------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, PrometheusServer]]:
    require_prometheus()
    history = History((int(time.time()) // 3600 - 2) * 3600)
    for build in (_model_server, _falco, _dcgm, _istio, _vllm):
        build(history)
    directory = tmp_path_factory.mktemp("templates")
    backfill_openmetrics(compose_openmetrics(history.series), directory / "data")
    server = start_prometheus(directory)
    yield history.start, server
    server.stop()


TEMPLATES = load_paths(
    sorted([*ROOT.glob("analyses/*.yaml"), *ROOT.glob("analyses/variants/*.yaml")])
)
ARGS = {
    "security-anomalies": {"min_priority": "Warning|Error|Critical|Alert|Emergency"},
    "gpu-health": {"pod_label": "exported_pod", "namespace_label": "exported_namespace"},
}


def observe(
    prometheus: tuple[int, PrometheusServer], template: str, metric: str
) -> tuple[Measurement | None, Measurement | None]:
    start, server = prometheus
    [spec] = [m for m in TEMPLATES.templates[template].spec.metrics if m.name == metric]
    request = MetricRequest(
        template=template,
        metric=spec,
        canary=VariantScope("green", {"environment": "green"}),
        baseline=VariantScope("blue", {"environment": "blue"}),
        namespace=NS,
        service=SERVICE,
        args=ARGS.get(template, {}),
    )
    provider = PrometheusProvider(PromApi(PrometheusSettings(url=server.url), sleep=lambda _: None))
    try:
        boundaries = [datetime.fromtimestamp(start + s, UTC) for s in (LO, HI)]
        [window] = provider.fetch_windows(request, boundaries=boundaries)
    finally:
        provider.close()
    return window.canary, window.baseline


EXERCISED = {"accuracy", "errors", "gpu-health", "latency", "security-anomalies", "istio", "vllm"}
"""Templates the tests below exercise; a new file in analyses/ must be added here and tested."""


def in_window(per_step: float) -> float:
    return per_step * len(INSIDE)


def test_every_template_file_is_loaded_and_exercised() -> None:
    files = sorted([*ROOT.glob("analyses/*.yaml"), *ROOT.glob("analyses/variants/*.yaml")])
    assert TEMPLATES.errors == []
    assert set(TEMPLATES.templates) == {path.stem for path in files} == set(EXERCISED)


def test_errors(prometheus) -> None:
    assert observe(prometheus, "errors", "error-rate") == (
        EventCounts(events=in_window(2), exposure=in_window(20)),
        EventCounts(events=in_window(1), exposure=in_window(58)),
    )


def test_accuracy(prometheus) -> None:
    assert observe(prometheus, "accuracy", "accuracy") == (
        EventCounts(events=in_window(1), exposure=in_window(6)),
        EventCounts(events=in_window(1), exposure=in_window(17)),
    )


@pytest.mark.parametrize("metric", ["latency-body", "latency-p99"])
def test_latency(prometheus, metric: str) -> None:
    canary, baseline = observe(prometheus, "latency", metric)
    body = metric == "latency-body"
    assert canary == Histogram(
        bounds=(0.05, 0.1),
        counts=(in_window(8), in_window(17)),
        total_sum=in_window(8.5) if body else 0.0,
        total_count=in_window(20),
    )
    assert baseline == Histogram(
        bounds=(0.05, 0.1),
        counts=(in_window(40), in_window(56)),
        total_sum=in_window(28.0) if body else 0.0,
        total_count=in_window(58),
    )


def test_server_anomalies_count_sources_born_in_the_window(prometheus) -> None:
    events = sum(expected(v) for v in ANOMALIES["green"].values())
    assert events == 2.0
    assert observe(prometheus, "security-anomalies", "server-anomalies") == (
        EventCounts(events=events, exposure=0, sources=2),
        EventCounts(events=0, exposure=0, sources=0),
    )


def test_falco_events_of_the_variants_pods_only(prometheus) -> None:
    # Canary: "Write below etc" born then +1 (a source, 1 event), "Read sensitive file
    # untrusted" born only (a source, no increase), the Notice rule filtered out by priority,
    # the Critical rule quiet in the window. Decoys in another namespace / Deployment ignored.
    assert observe(prometheus, "security-anomalies", "falco-events") == (
        EventCounts(events=1, exposure=0, sources=2),
        EventCounts(events=1, exposure=0, sources=1),
    )


def test_gpu_xid_errors_count_changes_of_the_last_xid(prometheus) -> None:
    assert observe(prometheus, "gpu-health", "xid-errors") == (
        EventCounts(events=3, exposure=0),
        EventCounts(events=0, exposure=0),
    )


def test_gpu_memory_fraction_used(prometheus) -> None:
    assert observe(prometheus, "gpu-health", "gpu-memory") == (
        ScalarValue(72000 / 81000),
        ScalarValue(40000 / 81000),
    )


def test_istio_errors_count_destination_reporter_once(prometheus) -> None:
    assert observe(prometheus, "istio", "error-rate") == (
        EventCounts(events=in_window(3), exposure=in_window(34)),
        EventCounts(events=in_window(2), exposure=in_window(96)),
    )


def _istio_histogram(env: str, *, body: bool) -> Histogram:
    per_bucket = ISTIO[env]["latency_ms"]
    requests = sum(ISTIO[env][code] for code in ("200", "503", "404"))
    return Histogram(
        bounds=tuple(float(le) for le in ISTIO_BUCKETS[:-1]),
        counts=tuple(in_window(sum(per_bucket[: i + 1])) for i in range(len(ISTIO_BUCKETS) - 1)),
        total_sum=in_window(40.0 * requests) if body else 0.0,
        total_count=in_window(requests),
    )


@pytest.mark.parametrize("metric", ["latency-body", "latency-p99"])
def test_istio_latency_buckets_in_milliseconds(prometheus, metric: str) -> None:
    body = metric == "latency-body"
    assert observe(prometheus, "istio", metric) == (
        _istio_histogram("green", body=body),
        _istio_histogram("blue", body=body),
    )


def _vllm_histogram(env: str, key: str, *, body: bool) -> Histogram:
    per_bucket = VLLM[env][key]
    return Histogram(
        bounds=tuple(float(le) for le in VLLM_BUCKETS[:-1]),
        counts=tuple(in_window(sum(per_bucket[: i + 1])) for i in range(len(VLLM_BUCKETS) - 1)),
        total_sum=in_window(1.25 * sum(per_bucket)) if body else 0.0,
        total_count=in_window(sum(per_bucket)),
    )


@pytest.mark.parametrize(
    ("metric", "key", "body"),
    [("e2e-latency-body", "e2e", True), ("ttft-p99", "ttft", False)],
)
def test_vllm_latency(prometheus, metric: str, key: str, body: bool) -> None:
    assert observe(prometheus, "vllm", metric) == (
        _vllm_histogram("green", key, body=body),
        _vllm_histogram("blue", key, body=body),
    )


def test_vllm_truncations(prometheus) -> None:
    assert observe(prometheus, "vllm", "truncations") == (
        EventCounts(events=in_window(3), exposure=in_window(12)),
        EventCounts(events=in_window(1), exposure=in_window(24)),
    )


def _observe_queries(
    prometheus: tuple[int, PrometheusServer], kind: str, queries: dict[str, str], **extra: object
) -> tuple[Measurement | None, Measurement | None]:
    spec = MetricSpec.model_validate(
        {"name": "before", "kind": kind, "provider": {"prometheus": {"queries": queries}}, **extra}
    )
    start, server = prometheus
    request = MetricRequest(
        template="before-the-fix",
        metric=spec,
        canary=VariantScope("green", {"environment": "green"}),
        baseline=VariantScope("blue", {"environment": "blue"}),
        namespace=NS,
        service=SERVICE,
    )
    provider = PrometheusProvider(PromApi(PrometheusSettings(url=server.url), sleep=lambda _: None))
    try:
        boundaries = [datetime.fromtimestamp(start + s, UTC) for s in (LO, HI)]
        [window] = provider.fetch_windows(request, boundaries=boundaries)
    finally:
        provider.close()
    return window.canary, window.baseline


FALCO_BEFORE = (
    'falcosecurity_falcosidekick_falco_events_total{ {{selector}}, priority=~"Warning|Error" }'
)


def test_the_queries_shipped_before_the_fix_miss_realistic_data(prometheus) -> None:
    # Falco and DCGM series carry the pod, not the environment label: {{selector}} found nothing.
    nothing = EventCounts(events=0, exposure=0, sources=0)
    falco = {
        "events": f"sum(increase({FALCO_BEFORE}[{{{{window}}}}]))",
        "sources": f"count(sum by (rule) (increase({FALCO_BEFORE}[{{{{window}}}}])) > 0)",
    }
    assert _observe_queries(prometheus, "anomalies", falco) == (nothing, nothing)
    xid = {"events": "sum(changes(DCGM_FI_DEV_XID_ERRORS{ {{selector}} }[{{window}}]))"}
    assert _observe_queries(prometheus, "gpu-health", xid) == (
        EventCounts(0, 0),
        EventCounts(0, 0),
    )
    # Counters born at their first event: without the `unless ... offset` part a source that
    # fired once inside the window is not counted (s-2 here).
    anomalies = "model_security_anomalies_total{ {{selector}} }"
    queries = {
        "events": f"sum(increase({anomalies}[{{{{window}}}}]))",
        "sources": f"count(sum by (source) (increase({anomalies}[{{{{window}}}}])) > 0)",
    }
    canary, _ = _observe_queries(prometheus, "anomalies", queries)
    assert canary == EventCounts(events=2, exposure=0, sources=1)
