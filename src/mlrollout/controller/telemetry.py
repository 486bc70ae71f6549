"""The in-cluster controller's own metrics and its health endpoint.

Part of the ``controller`` layer (the manager's edge). Metrics live in a private
``CollectorRegistry`` so tests can run several managers in one process; ``/healthz`` answers
200 while the process runs and reaches the API server (503 naming the error when the last
attempt failed), ``/readyz`` 200 only while it leads with every worker alive and none stuck
(the body says why not), ``/metrics`` the exposition.
"""

from __future__ import annotations

import functools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from mlrollout.kube import StoredRollout

__all__ = ["HealthServer", "Telemetry"]

PASS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Telemetry:
    """Rollouts by phase, decisions by outcome, reconcile duration, current e-values."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.leader = Gauge(
            "mlrollout_leader", "1 while this process holds the Lease", registry=self.registry
        )
        self.rollouts = Gauge(
            "mlrollout_rollouts", "Rollouts by phase", ["phase"], registry=self.registry
        )
        self.decisions = Counter(
            "mlrollout_decisions", "Decisions by resulting phase", ["phase"], registry=self.registry
        )
        self.errors = Counter(
            "mlrollout_reconcile_errors",
            "Passes that failed, by cause (an error class, or InternalError)",
            ["reason"],
            registry=self.registry,
        )
        self.worker_restarts = Counter(
            "mlrollout_worker_restarts",
            "Worker threads that ended unexpectedly and were started again",
            registry=self.registry,
        )
        histogram = functools.partial(Histogram, registry=self.registry, buckets=PASS_BUCKETS)
        self.duration = histogram(
            "mlrollout_reconcile_duration_seconds",
            "Time of one reconcile pass",
        )
        self.by_phase = histogram(
            "mlrollout_reconcile_phase_duration_seconds",
            "Time of one reconcile pass, by the phase the rollout was in when it began",
            ["phase"],
        )
        self.api_wait = histogram(
            "mlrollout_reconcile_api_wait_seconds",
            "Time a pass waited for the API server (retries and their pauses included), "
            "by the phase the rollout was in when it began",
            ["phase"],
        )
        self.own = histogram(
            "mlrollout_reconcile_own_seconds",
            "Time of one reconcile pass minus its wait for the API server",
        )
        self.evalue = Gauge(
            "mlrollout_evalue",
            "Current e-value of a metric's test",
            ["namespace", "rollout", "metric", "direction"],
            registry=self.registry,
        )
        self.api_reachable = Gauge(
            "mlrollout_api_server_reachable",
            "1 while the last request to the API server succeeded",
            registry=self.registry,
        )
        self.api_error: str | None = None
        self._phases: dict[tuple[str, str], str] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def note_api(self, error: str | None) -> None:
        """Record whether the API server answered (``error`` None) or why it did not."""
        self.api_error = error
        self.api_reachable.set(0 if error else 1)

    def observe_pass(self, phase: str, seconds: float, api_wait: float) -> None:
        """One pass's time, of which ``api_wait`` waiting for the API server; ``phase`` is
        the rollout's phase when the pass began."""
        self.duration.observe(seconds)
        self.by_phase.labels(phase=phase).observe(seconds)
        self.api_wait.labels(phase=phase).observe(api_wait)
        self.own.observe(max(seconds - api_wait, 0.0))

    def record(self, stored: StoredRollout) -> None:
        """Update phase counts and e-values from a rollout as written."""
        key = (stored.rollout.namespace, stored.rollout.name)
        with self._lock:
            self._phases[key] = stored.status.phase.value
            self._publish_phases()
        analysis = stored.status.analysis
        look = analysis.look if analysis is not None else None
        for metric in look.metrics if look is not None else []:
            for direction, value in (
                ("rollback", metric.e_rollback),
                ("promote", metric.e_promote),
            ):
                if value is not None:
                    self.evalue.labels(
                        namespace=key[0], rollout=key[1], metric=metric.name, direction=direction
                    ).set(value)

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted rollout from the phase counts."""
        with self._lock:
            self._phases.pop((namespace, name), None)
            self._publish_phases()

    def _publish_phases(self) -> None:
        """Set the phase gauge (lock held): every phase seen so far, 0 once no rollout is in
        it any more."""
        counts: dict[str, int] = dict.fromkeys(self._seen, 0)
        for phase in self._phases.values():
            counts[phase] = counts.get(phase, 0) + 1
        self._seen.update(counts)
        for phase, count in counts.items():
            self.rollouts.labels(phase=phase).set(count)

    def exposition(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


def _readiness(answer: object) -> tuple[bool, str]:
    """``ready`` may answer a bool (leading or not) or a value with ``ready`` and ``reason``."""
    if isinstance(answer, bool):
        return answer, "leading" if answer else "standby"
    ready = bool(getattr(answer, "ready", False))
    reason = str(getattr(answer, "reason", "leading" if ready else "standby"))
    return ready, "leading" if ready else reason


class HealthServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` on a port."""

    def __init__(self, telemetry: Telemetry, *, host: str, port: int, ready: Any) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body, code, kind = telemetry.exposition(), 200, CONTENT_TYPE_LATEST
                elif self.path == "/healthz":
                    error = telemetry.api_error
                    body = (
                        b"ok\n" if error is None else f"API server unreachable: {error}\n".encode()
                    )
                    code, kind = (200 if error is None else 503), "text/plain"
                elif self.path == "/readyz":
                    ready, reason = _readiness(outer.ready())
                    body = (reason + "\n").encode()
                    code, kind = (200 if ready else 503), "text/plain"
                else:
                    body, code, kind = b"not found\n", 404, "text/plain"
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.ready = ready
        self.http = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.http.server_address[1])

    def start(self) -> HealthServer:
        """Serve in a background thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (and close the socket, also when serving never started)."""
        if self.thread.is_alive():
            self.http.shutdown()
        self.http.server_close()
