"""The in-cluster manager's health and metrics endpoints and its work queue (no API server).

Leadership, takeover, a lost Lease and ``promote`` following a running controller run on the
real control plane (``tests/controlplane/test_manager.py``, ``test_faults.py``); a
forbidden read recorded on the rollout there too (``test_rbac.py``)."""

from __future__ import annotations

import urllib.error
import urllib.request

from mlrollout.controller.telemetry import HealthServer, Telemetry
from mlrollout.controller.workqueue import WorkQueue


def test_health_endpoints_and_metrics() -> None:
    telemetry = Telemetry()
    leading = {"now": False}
    health = HealthServer(telemetry, host="127.0.0.1", port=0, ready=lambda: leading["now"]).start()
    base = f"http://127.0.0.1:{health.port}"

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(base + path) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode()

    try:
        assert get("/healthz") == (200, "ok\n")
        assert get("/readyz") == (503, "standby\n")
        leading["now"] = True
        assert get("/readyz") == (200, "leading\n")
        telemetry.duration.observe(0.02)
        code, body = get("/metrics")
        assert code == 200
        assert "mlrollout_reconcile_duration_seconds_bucket" in body
    finally:
        health.stop()


def test_work_queue_keeps_one_pass_per_key_and_the_earliest_due_time() -> None:
    now = {"t": 0.0}
    queue = WorkQueue(monotonic=lambda: now["t"])
    queue.add(("ns", "a"), after=10)
    queue.add(("ns", "a"), after=5)
    queue.add(("ns", "b"), after=7)
    assert queue.get(timeout=0) is None
    now["t"] = 6
    assert queue.get(timeout=0) == ("ns", "a")
    queue.add(("ns", "a"))  # changed while being processed: not handed out twice
    now["t"] = 8
    assert queue.get(timeout=0) == ("ns", "b")
    assert queue.get(timeout=0) is None
    queue.done(("ns", "a"))
    assert queue.get(timeout=0) == ("ns", "a")
