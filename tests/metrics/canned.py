"""A canned Prometheus HTTP API on loopback: scripted answers, recorded queries.

The Prometheus provider talks HTTP through prometheus-api-client, which uses ``requests``
(respx only intercepts httpx), so its error mapping is tested against this tiny real
server instead: each request pops the next scripted ``Answer`` (status, JSON body, delay).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Answer:
    """One scripted answer."""

    status: int = 200
    body: Any = None
    delay_s: float = 0.0


def vector(*values: tuple[dict[str, str], str]) -> dict[str, Any]:
    """A successful instant-vector answer."""
    result = [{"metric": labels, "value": [1700000000.0, value]} for labels, value in values]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def matrix(*series: tuple[dict[str, str], list[tuple[float, str]]]) -> dict[str, Any]:
    """A successful range-vector answer."""
    result = [
        {"metric": labels, "values": [list(s) for s in samples]} for labels, samples in series
    ]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


def error(kind: str, message: str) -> dict[str, Any]:
    """A Prometheus error body."""
    return {"status": "error", "errorType": kind, "error": message}


@dataclass
class CannedPrometheus:
    """The script, the queries received, and the base URL."""

    answers: list[Answer]
    queries: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    headers: list[dict[str, str]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        canned: CannedPrometheus = self.server.canned  # type: ignore[attr-defined]
        params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        canned.queries.append(params)
        canned.headers.append(dict(self.headers.items()))
        answer = canned.answers.pop(0) if canned.answers else Answer(500, error("internal", "x"))
        time.sleep(answer.delay_s)
        payload = json.dumps(answer.body if answer.body is not None else {}).encode()
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def canned_prometheus(*answers: Answer) -> Iterator[CannedPrometheus]:
    """Serve ``answers`` in order on an ephemeral loopback port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    canned = CannedPrometheus(answers=list(answers), url=f"http://127.0.0.1:{server.server_port}")
    server.canned = canned  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield canned
    finally:
        server.shutdown()
        server.server_close()
