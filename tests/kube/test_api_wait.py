"""``api_wait_seconds``: each thread's time spent in requests to the API server, which the
controller subtracts from a pass's time to tell its own work from the server's answers. On
the real kube-apiserver (``ns``: a namespace of the test's own)."""

from __future__ import annotations

import threading
import time

from mlrollout.kube import KubeClient
from mlrollout.kube.client import api_wait_seconds
from mlrollout.kube.kinds import CONFIGMAPS


def test_requests_add_their_time_to_the_calling_thread_only(kube: KubeClient, ns: str) -> None:
    before, started = api_wait_seconds(), time.monotonic()
    kube.create(
        CONFIGMAPS,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w"}, "data": {}},
        ns,
    )
    kube.get(CONFIGMAPS, "w", ns)
    waited, elapsed = api_wait_seconds() - before, time.monotonic() - started
    assert 0 < waited <= elapsed
    other: list[float] = []
    thread = threading.Thread(target=lambda: other.append(api_wait_seconds()))
    thread.start()
    thread.join()
    assert other == [0.0]  # another thread has waited for nothing
    quiet = api_wait_seconds()
    time.sleep(0.01)  # time outside requests is not counted
    assert api_wait_seconds() == quiet
