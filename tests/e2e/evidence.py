"""What the e2e tests read back: the model servers' own counters, pods, binomial bounds.

Part of the e2e test bed (``tests/e2e``); used by ``test_dataplane``. Counters are read from
each model server's ``/metrics`` exposition, the text a real Prometheus scrapes, so a test
asserts on what the servers saw rather than on what the load generator believes it sent.
``wait_pods`` counts an environment's pods on the real API server.
"""

from __future__ import annotations

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from scipy.stats import binom

from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import PODS
from mlrollout.local import ModelServer

from .cluster import SERVICE

__all__ = ["MISS_RATE", "assert_binomial", "fetch_counter", "fetch_predictions", "wait_pods"]

MISS_RATE = 1e-6


def fetch_counter(server: ModelServer, name: str) -> int:
    """The sum of every sample called ``name`` on ``server``'s ``/metrics``."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    families = text_string_to_metric_families(text)
    return int(sum(s.value for f in families for s in f.samples if s.name == name))


def fetch_predictions(server: ModelServer) -> int:
    """Prediction requests ``server`` answered, whatever the status."""
    return fetch_counter(server, "model_requests_total")


def assert_binomial(count: int, *, trials: int, p: float) -> None:
    """``count`` successes of ``trials`` are plausible for ``p`` (misses once in a million)."""
    low, high = binom.interval(1 - MISS_RATE, trials, p)
    assert low <= count <= high, f"{count} of {trials} is implausible for p={p}"


def wait_pods(client: KubeClient, namespace: str, env: str, count: int) -> None:
    """Wait until environment ``env`` of model ``m`` has ``count`` pods (placed or not)."""
    selector = f"app={SERVICE},env={env}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(client.list(PODS, namespace, label_selector=selector)) == count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{SERVICE}-{env} did not get {count} pods")
