"""What the e2e tests read back: the model servers' own counters, pods, binomial bounds.

Part of the e2e test bed (``tests/e2e``); used by ``test_dataplane``. Counters are read from
each model server's ``/metrics`` exposition, the text a real Prometheus scrapes, so a test
asserts on what the servers saw rather than on what the load generator believes it sent.
"""

from __future__ import annotations

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from scipy.stats import binom

from kubeapi import KubeApiServer
from kubeapi.kinds import kind_by_name
from mlrollout.local import ModelServer

from .cluster import NS

__all__ = ["MISS_RATE", "assert_binomial", "fetch_counter", "fetch_predictions", "wait_running"]

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


def wait_running(server: KubeApiServer, deployment: str, count: int) -> None:
    """Wait until ``deployment`` has ``count`` running pods (ready or not)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pods = server.store.list_objects(kind_by_name("Pod"), NS)[0]
        running = [
            p
            for p in pods
            if p["metadata"]["ownerReferences"][0]["name"] == deployment
            and (p.get("status") or {}).get("phase") == "Running"
        ]
        if len(running) == count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{deployment} did not get {count} running pods")
