"""The local platform's weighted HTTP proxy: the model Service of a laptop.

Part of the ``local`` sandbox (standard library only). It listens on loopback and forwards
``POST /predict`` to the blue or green model server by weight, in basis points summing to
10000, with smooth weighted round-robin: over any run of requests each environment's share
is within one request of its weight, so a 5% canary gets 5% from the first requests on.
``POST /feedback`` goes to the environment that made the prediction (its ``request_id``
starts with the environment's name), whatever the weights are now. ``GET /healthz`` and
``GET /weights`` report the proxy's state.

``set_weights`` refuses (``ValueError``) weights that do not sum to 10000 or that give
traffic to an environment with no backend, and changes nothing then: the split in force
is always a defined one. A backend that fails to answer is a 502 to the client.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from mlrollout.local.serving import LOOPBACK, MAX_BODY, LoopbackServer, read_body, reply, served_by
from mlrollout.spec.status import TOTAL_BASIS_POINTS

__all__ = ["ENVIRONMENTS", "WeightedProxy"]

ENVIRONMENTS = ("blue", "green")


class WeightedProxy(LoopbackServer):
    """Routes prediction requests between two backends by weight."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 10.0) -> None:
        super().__init__(host=host, port=port, handler=_Handler, what="local proxy")
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._backends: dict[str, str] = {}
        self._weights: dict[str, int] = {"blue": TOTAL_BASIS_POINTS, "green": 0}
        self._credit: dict[str, int] = dict.fromkeys(ENVIRONMENTS, 0)
        self.served: dict[str, int] = dict.fromkeys(ENVIRONMENTS, 0)

    # -- configuration ------------------------------------------------------------------

    def set_backend(self, env: str, url: str | None) -> None:
        """Point ``env`` at a model server (or at nothing: refused while it has weight)."""
        _check_env(env)
        with self._lock:
            if url is None:
                if self._weights[env] > 0:
                    raise ValueError(f"{env} still has {self._weights[env] / 100:g}% of traffic")
                self._backends.pop(env, None)
                return
            if urlsplit(url).hostname not in LOOPBACK:
                raise ValueError(f"the local proxy forwards to loopback only, not {url}")
            self._backends[env] = url

    def set_weights(self, weights: Mapping[str, int]) -> dict[str, int]:
        """Apply per-environment basis points (sum 10000); the weights now in force."""
        chosen = {env: int(weights.get(env, 0)) for env in ENVIRONMENTS}
        if set(weights) - set(ENVIRONMENTS):
            raise ValueError(f"unknown environments {sorted(set(weights) - set(ENVIRONMENTS))}")
        if any(w < 0 for w in chosen.values()) or sum(chosen.values()) != TOTAL_BASIS_POINTS:
            raise ValueError(
                f"weights must be non-negative and sum to {TOTAL_BASIS_POINTS}, got {chosen}"
            )
        with self._lock:
            missing = [env for env, w in chosen.items() if w > 0 and env not in self._backends]
            if missing:
                raise ValueError(f"no model server for {', '.join(missing)}")
            if chosen != self._weights:
                self._weights = chosen
                self._credit = dict.fromkeys(ENVIRONMENTS, 0)
            return dict(self._weights)

    def weights(self) -> dict[str, int]:
        """The weights in force (basis points)."""
        with self._lock:
            return dict(self._weights)

    def backends(self) -> dict[str, str]:
        """The backend URL per environment."""
        with self._lock:
            return dict(self._backends)

    # -- routing ------------------------------------------------------------------------

    def pick(self) -> tuple[str, str]:
        """The next environment and its backend (smooth weighted round-robin)."""
        with self._lock:
            for env in ENVIRONMENTS:
                self._credit[env] += self._weights[env]
            env = max(ENVIRONMENTS, key=lambda e: (self._credit[e], -ENVIRONMENTS.index(e)))
            self._credit[env] -= TOTAL_BASIS_POINTS
            self.served[env] += 1
            return env, self._backends[env]

    def backend_of(self, request_id: object) -> str | None:
        """The backend of the environment that made prediction ``request_id``."""
        env = str(request_id).split("-", 1)[0]
        with self._lock:
            return self._backends.get(env)

    def forward(self, backend: str, path: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` to ``backend + path``; (status, body), 502 when it cannot answer."""
        parts = urlsplit(backend)
        connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=self.timeout_s
        )
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read(MAX_BODY)
        except (OSError, http.client.HTTPException) as exc:
            return 502, json.dumps({"error": f"backend {backend}: {exc}"}).encode()
        finally:
            connection.close()


def _check_env(env: str) -> None:
    if env not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}, got {env!r}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def proxy(self) -> WeightedProxy:
        proxy: WeightedProxy = served_by(self)
        return proxy

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
        elif self.path == "/weights":
            self._send(200, {"weights": self.proxy.weights(), "backends": self.proxy.backends()})
        else:
            self._send(404, {"error": f"no such endpoint {self.path}"})

    def do_POST(self) -> None:
        body = read_body(self)
        if self.path == "/predict":
            _, backend = self.proxy.pick()
            self._relay(*self.proxy.forward(backend, "/predict", body))
        elif self.path == "/feedback":
            owner = self.proxy.backend_of(_request_id(body))
            if owner is None:
                self._send(404, {"error": "no environment serves that request_id now"})
            else:
                self._relay(*self.proxy.forward(owner, "/feedback", body))
        else:
            self._send(404, {"error": f"no such endpoint {self.path}"})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        self._relay(status, json.dumps(body).encode())

    def _relay(self, status: int, payload: bytes) -> None:
        reply(self, status, payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _request_id(body: bytes) -> object:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return None
    return parsed.get("request_id") if isinstance(parsed, dict) else None
