"""A fault proxy: a loopback HTTPS proxy in front of the real kube-apiserver that injects
409, 429 + Retry-After, 500/503, connection resets, delays and watch drops by rule.

Part of the ``controlplane`` test package. ``FaultProxy`` terminates TLS with a serving
certificate of the control plane's CA (so a kubeconfig only changes its server address),
forwards every request to the API server unchanged (the bearer token included: clients that
go through the proxy authenticate with ServiceAccount tokens, and the audit log names them
as usual; only the User-Agent may be set, to tell replicas apart in the audit log) and
streams the answer back, watches included. A ``Rule`` selects requests by HTTP method, a
regular expression searched in the request target (path and query), the n-th match on and
how many times, and a probability (from a seeded generator, so a run is reproducible); what
it does:

- ``status``: answer with a Kubernetes ``Status`` of that code (``Retry-After`` if given)
  without forwarding, so a faulted write never reaches the API server;
- ``reset``: close the client connection with a TCP reset, without forwarding;
- ``delay``: wait, then forward (combined with ``status`` or ``reset``: wait, then fail);
- ``drop_after``: forward a watch, relay that many events, then reset the connection.

A faulted request is never half-forwarded: only ``delay`` and ``drop_after`` reach the API
server, so the audit log holds exactly the writes that happened.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["FaultProxy", "Rule"]

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)
_REASONS = {
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


@dataclass
class Rule:
    """One fault and how often it matched and fired."""

    verb: str | None = None
    path: str = ""
    status: int | None = None
    retry_after: int | None = None
    reset: bool = False
    delay: float = 0.0
    drop_after: int | None = None
    probability: float = 1.0
    nth: int = 1
    times: int | None = 1
    matched: int = 0
    fired: int = 0
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.status is None and not self.reset and self.delay <= 0 and self.drop_after is None:
            raise ValueError("a rule needs a status, a reset, a delay or drop_after")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"fault status must be 4xx or 5xx, not {self.status}")
        if self.nth < 1 or (self.times is not None and self.times < 1):
            raise ValueError("nth and times count from 1")
        if not 0 < self.probability <= 1:
            raise ValueError(f"probability must be in (0, 1], not {self.probability}")
        self.verb = self.verb.upper() if self.verb else None
        self.pattern = re.compile(self.path)

    def matches(self, verb: str, target: str) -> bool:
        """Whether the rule selects this request (before counting and probability)."""
        return self.verb in (None, verb) and bool(self.pattern.search(target))

    def due(self, rng: random.Random) -> bool:
        """Count one match; whether the rule fires on it."""
        self.matched += 1
        if self.matched < self.nth:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if self.probability < 1 and rng.random() >= self.probability:
            return False
        self.fired += 1
        return True


@dataclass(frozen=True)
class _Action:
    delay: float = 0.0
    status: int | None = None
    retry_after: int | None = None
    reset: bool = False
    drop_after: int | None = None


class FaultProxy:
    """The proxy: ``url`` in front of ``upstream``; ``add`` rules, ``clear`` them."""

    def __init__(
        self,
        upstream: str,
        *,
        ca: Path,
        cert: Path,
        key: Path,
        seed: int = 0,
        user_agent: str | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 443)
        self._upstream_tls = ssl.create_default_context(cafile=str(ca))
        serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        serving.load_cert_chain(str(cert), str(key))
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._rng = random.Random(seed)
        self.forwarded = 0
        self.user_agent = user_agent
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._server.socket = serving.wrap_socket(self._server.socket, server_side=True)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (open streams end with their threads)."""
        self._server.shutdown()
        self._server.server_close()

    def add(self, **settings: object) -> Rule:
        """Add a ``Rule`` (its fields as keywords); returns it for its counters."""
        rule = Rule(**settings)  # type: ignore[arg-type]
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    @contextmanager
    def rule(self, **settings: object) -> Iterator[Rule]:
        """A rule in force for the ``with`` block."""
        added = self.add(**settings)
        try:
            yield added
        finally:
            with self._lock:
                if added in self._rules:
                    self._rules.remove(added)

    def _decide(self, verb: str, target: str) -> _Action | None:
        delay, chosen, drop = 0.0, None, None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(verb, target) or not rule.due(self._rng):
                    continue
                delay += rule.delay
                if chosen is None and (rule.status is not None or rule.reset):
                    chosen = rule
                if drop is None and rule.drop_after is not None:
                    drop = rule.drop_after
        if chosen is None and delay <= 0 and drop is None:
            return None
        return _Action(
            delay=delay,
            status=chosen.status if chosen else None,
            retry_after=chosen.retry_after if chosen else None,
            reset=chosen.reset if chosen else False,
            drop_after=drop,
        )

    def _connect(self) -> http.client.HTTPSConnection:
        host, port = self._upstream
        return http.client.HTTPSConnection(host, port, context=self._upstream_tls, timeout=330)


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN: the client sees 'connection reset by peer'."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        socket.socket.close(sock)
    except OSError:
        pass


def _handler_class(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: pytest captures enough

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_PATCH(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            action = proxy._decide(self.command, self.path)
            if action is not None and action.delay > 0:
                time.sleep(action.delay)
            if action is not None and action.reset:
                self.close_connection = True
                _reset(self.connection)
                return
            if action is not None and action.status is not None:
                self._answer_status(action.status, action.retry_after)
                return
            self._forward(body, drop_after=action.drop_after if action else None)

        def _answer_status(self, code: int, retry_after: int | None) -> None:
            reason = _REASONS.get(code, "InternalError")
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": f"injected by the fault proxy: {code}",
                "reason": reason,
                "code": code,
            }
            if retry_after is not None:
                status["details"] = {"retryAfterSeconds": retry_after}
            payload = json.dumps(status).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if retry_after is not None:
                self.send_header("Retry-After", str(retry_after))
            self.end_headers()
            self.wfile.write(payload)

        def _forward(self, body: bytes | None, *, drop_after: int | None) -> None:
            upstream = proxy._connect()
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if proxy.user_agent is not None:
                    headers = {k: v for k, v in headers.items() if k.lower() != "user-agent"}
                    headers["User-Agent"] = proxy.user_agent
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                except OSError:
                    self.close_connection = True
                    _reset(self.connection)
                    return
                with proxy._lock:
                    proxy.forwarded += 1
                self.send_response(answer.status, answer.reason)
                for k, v in answer.getheaders():
                    if k.lower() not in _HOP_BY_HOP:
                        self.send_header(k, v)
                if answer.getheader("Content-Length") is not None:
                    payload = answer.read()
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self._stream(answer, drop_after)
            finally:
                upstream.close()

        def _stream(self, answer: http.client.HTTPResponse, drop_after: int | None) -> None:
            """Relay a chunked answer (a watch) as it comes; after ``drop_after`` complete
            events (JSON lines), reset the connection."""
            events = 0
            while True:
                if drop_after is not None and events >= drop_after:
                    self.close_connection = True
                    self.wfile.flush()
                    _reset(self.connection)
                    return
                try:
                    data = answer.read1(65536) if drop_after is None else answer.readline()
                except OSError:
                    data = b""
                if not data:
                    break
                events += data.count(b"\n")
                try:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                except OSError:
                    self.close_connection = True
                    return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler
