"""The reference model server: a real HTTP inference server with Prometheus metrics.

Part of the ``local`` sandbox (stdlib ``http.server`` + prometheus-client, no framework).
It serves the ``model`` (logistic regression on the seeded ``SyntheticTask``), records the
metrics of ``instruments`` and misbehaves on purpose as ``regressions`` says. Used by the
local platform and by the metrics tests, which scrape it with a real Prometheus.

Endpoints (JSON in and out):

- ``POST /predict`` ``{"features": [f1, ..., fd]}`` -> ``{"request_id", "prediction",
  "probability"}``; 400 for malformed input, 500 for an injected error. The simulated
  service time (lognormal, median ``base_latency_s``, sigma 0.5, seeded) times the latency
  factor is really slept, so the measured latency is real.
- ``POST /feedback`` ``{"request_id", "label"}`` -> ``{"correct": bool}`` and one labelled
  example counted; 404 for an unknown or already labelled id.
- ``GET /metrics`` (exposition text), ``GET /healthz``.
- ``GET|POST /admin/regressions`` read or change the regressions;
  ``POST /admin/anomalies`` ``{"count", "sources"}`` raises a burst of anomalies now.

It binds loopback only. Run it with
``python -m mlrollout.local.modelserver --port 8081 --environment green --latency-factor 1.2``,
or with ``--model CARD.json`` (``modelcard``: seed, base latency and regressions from a file).
With ``--exit-on-stdin-close`` it stops when its standard input reaches end of file, so a
server started by the local platform never outlives the process that started it, however
that process ends (even SIGKILL closes the pipe).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mlrollout.local.instruments import ServerMetrics
from mlrollout.local.model import SyntheticTask, fit_model
from mlrollout.local.modelcard import load_model_card
from mlrollout.local.regressions import Regressions, RegressionSwitch
from mlrollout.local.serving import LOOPBACK, LoopbackServer, read_body, reply, served_by

__all__ = ["LOOPBACK", "ModelServer", "ServerConfig", "main"]
_PENDING_LIMIT = 100_000


@dataclass(frozen=True)
class ServerConfig:
    """How one model server runs."""

    environment: str
    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 1
    base_latency_s: float = 0.02
    regressions: Regressions = field(default_factory=Regressions)
    task: SyntheticTask = field(default_factory=SyntheticTask)


class ModelServer(LoopbackServer):
    """One running model server (``start`` / ``stop``, or use it as a context manager)."""

    def __init__(self, config: ServerConfig) -> None:
        super().__init__(
            host=config.host, port=config.port, handler=_Handler, what="reference model server"
        )
        self.config = config
        self.metrics = ServerMetrics(config.environment)
        self.regressions = RegressionSwitch(config.regressions)
        self.model = fit_model(config.task)
        self._rng = np.random.default_rng(config.seed)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: OrderedDict[str, int] = OrderedDict()

    def predict(self, body: Any) -> tuple[int, dict[str, Any]]:
        """Answer one prediction request: ``(HTTP status, JSON body)``; records metrics."""
        started = time.perf_counter()
        status, answer = self._predict(body)
        self.metrics.observe_request(status=status, seconds=time.perf_counter() - started)
        return status, answer

    def feedback(self, body: Any) -> tuple[int, dict[str, Any]]:
        """Count the true label of an earlier prediction as a correct or incorrect example."""
        if not isinstance(body, dict) or body.get("label") not in (0, 1):
            return 400, {"error": 'expected {"request_id": str, "label": 0 or 1}'}
        with self._lock:
            predicted = self._pending.pop(str(body.get("request_id")), None)
        if predicted is None:
            return 404, {"error": "unknown or already labelled request_id"}
        correct = predicted == body["label"]
        self.metrics.observe_feedback(correct=correct)
        return 200, {"correct": correct}

    def burst(self, *, count: int, sources: int) -> None:
        """Raise ``count`` anomalies spread over ``sources`` distinct sources now."""
        for index in range(count):
            self.metrics.observe_anomalies(f"source-{index % max(sources, 1)}")

    def _predict(self, body: Any) -> tuple[int, dict[str, Any]]:
        features = _features(body, self.config.task.features)
        if features is None:
            size = self.config.task.features
            return 400, {"error": f'expected {{"features": [{size} finite numbers]}}'}
        regressions = self.regressions.current
        service_s, fail, flip, anomaly, source = self._draw(regressions)
        time.sleep(service_s)
        if anomaly:
            self.metrics.observe_anomalies(f"source-{source}")
        if fail:
            return 500, {"error": "injected inference failure"}
        probability = float(self.model.probability(features[None, :])[0])
        prediction = int(probability >= 0.5) ^ int(flip)
        request_id = f"{self.config.environment}-{next(self._ids)}"
        with self._lock:
            self._pending[request_id] = prediction
            while len(self._pending) > _PENDING_LIMIT:
                self._pending.popitem(last=False)
        return 200, {"request_id": request_id, "prediction": prediction, "probability": probability}

    def _draw(self, regressions: Regressions) -> tuple[float, bool, bool, bool, int]:
        with self._lock:
            rng = self._rng
            service = self.config.base_latency_s * float(rng.lognormal(0.0, 0.5))
            draws = rng.random(3)
            source = int(rng.integers(regressions.anomaly_sources))
        return (
            service * regressions.latency_factor,
            bool(draws[0] < regressions.error_rate),
            bool(draws[1] < regressions.accuracy_drop),
            bool(draws[2] < regressions.anomaly_rate),
            source,
        )


def _features(body: Any, size: int) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    values = body.get("features") if isinstance(body, dict) else None
    if not isinstance(values, list) or len(values) != size:
        return None
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        return None
    return np.asarray(values, dtype=np.float64)


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the ``ModelServer`` attached to the HTTP server."""

    protocol_version = "HTTP/1.1"

    @property
    def app(self) -> ModelServer:
        app: ModelServer = served_by(self)
        return app

    def do_GET(self) -> None:
        if self.path == "/metrics":
            self._send(200, generate_latest(self.app.metrics.registry), CONTENT_TYPE_LATEST)
        elif self.path == "/healthz":
            self._send_json(200, {"status": "ok", "environment": self.app.config.environment})
        elif self.path == "/admin/regressions":
            self._send_json(200, self.app.regressions.current.to_dict())
        else:
            self._send_json(404, {"error": f"no such endpoint {self.path}"})

    def do_POST(self) -> None:
        body = self._read_json()
        if self.path == "/predict":
            self._send_json(*self.app.predict(body))
        elif self.path == "/feedback":
            self._send_json(*self.app.feedback(body))
        elif self.path == "/admin/regressions":
            self._send_json(*self._change_regressions(body))
        elif self.path == "/admin/anomalies" and isinstance(body, dict):
            self.app.burst(count=int(body.get("count", 1)), sources=int(body.get("sources", 1)))
            self._send_json(200, {"raised": int(body.get("count", 1))})
        else:
            self._send_json(404, {"error": f"no such endpoint {self.path}"})

    def _change_regressions(self, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return 400, {"error": "expected a JSON object of regression settings"}
        try:
            return 200, self.app.regressions.apply(body).to_dict()
        except (TypeError, ValueError) as exc:
            return 400, {"error": str(exc)}

    def _read_json(self) -> Any:
        raw = read_body(self)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        reply(self, status, payload, content_type)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would drown the test output."""


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m mlrollout.local.modelserver")
    parser.add_argument("--environment", required=True)
    parser.add_argument("--host", default="127.0.0.1", choices=LOOPBACK)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--base-latency-ms", type=float, default=20.0)
    parser.add_argument("--latency-factor", type=float, default=1.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--accuracy-drop", type=float, default=0.0)
    parser.add_argument("--anomaly-rate", type=float, default=0.0)
    parser.add_argument("--anomaly-sources", type=int, default=1)
    parser.add_argument("--model", default=None, help="A model card (JSON); overrides the above.")
    parser.add_argument("--exit-on-stdin-close", action="store_true")
    args = parser.parse_args(argv)
    # Each regression flag is the Regressions field of the same name.
    regressions = Regressions(**{f.name: getattr(args, f.name) for f in fields(Regressions)})
    seed, base_latency_s = args.seed, args.base_latency_ms / 1000
    if args.model is not None:
        try:
            card = load_model_card(Path(args.model))
        except (OSError, ValueError) as exc:
            parser.error(str(exc))
        seed, base_latency_s = card.seed, card.base_latency_ms / 1000
        regressions = card.regressions
    config = ServerConfig(
        environment=args.environment,
        host=args.host,
        port=args.port,
        seed=seed,
        base_latency_s=base_latency_s,
        regressions=regressions,
    )
    server = ModelServer(config).start()
    print(f"serving {config.environment} on {server.url}", flush=True)
    try:
        if args.exit_on_stdin_close:
            while sys.stdin.buffer.read(4096):
                pass
        else:
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
