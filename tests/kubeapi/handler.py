"""HTTP framing of the test API server: one request in, one JSON response or a watch stream out.

Runs in ``http.server`` worker threads (``server`` owns the listening socket). For each
request it reads the body, consults the ``faults`` plan (delay, reset, injected status),
routes discovery paths to ``discovery`` and resource paths to ``operations``, renders
``StatusError`` as a Status body, and streams watches as chunked newline-delimited JSON.
An unexpected exception becomes a 500 and is kept in ``ServerState.internal_errors`` so the
fixture can fail the test that caused it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .discovery import compute_discovery
from .failures import StatusError, compute_status_body
from .faults import FaultAction, FaultPlan
from .operations import ApiRequest, serve_request
from .routing import parse_route
from .store import ObjectStore
from .watching import WatchPlan, stream_watch

__all__ = ["ApiHttpServer", "KubeApiHandler", "ServerState"]

_APPLY_PATCH = "application/apply-patch"


@dataclass
class ServerState:
    """What every request thread shares."""

    store: ObjectStore
    faults: FaultPlan
    max_watch_seconds: float = 60.0
    internal_errors: list[str] = field(default_factory=list)
    connections: set[socket.socket] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ApiHttpServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` carrying the shared :class:`ServerState`."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], state: ServerState) -> None:
        self.state = state
        super().__init__(address, KubeApiHandler)

    def close_connections(self) -> None:
        """Shut every open client connection down (server stop)."""
        with self.state.lock:
            connections = list(self.state.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class KubeApiHandler(BaseHTTPRequestHandler):
    """One connection's requests; HTTP/1.1 keep-alive as the client's pool expects."""

    protocol_version = "HTTP/1.1"
    server: ApiHttpServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.state.lock:
            self.server.state.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.state.lock:
            self.server.state.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, verb: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        action = self.server.state.faults.decide(verb, self.path)
        if action is not None and self._apply_fault(action):
            return
        try:
            result = self._serve(verb, raw)
        except StatusError as failure:
            self._send_failure(failure)
            return
        except Exception:
            self.server.state.internal_errors.append(traceback.format_exc())
            self._send_failure(StatusError("internal error in the test API server", code=500))
            return
        if isinstance(result, WatchPlan):
            self._stream(result)
        else:
            self._send_json(result[0], result[1])

    def _apply_fault(self, action: FaultAction) -> bool:
        if action.delay > 0:
            time.sleep(action.delay)
        if action.reset:
            self._reset()
            return True
        if action.status is None:
            return False
        headers = {} if action.retry_after is None else {"Retry-After": str(action.retry_after)}
        self._send_failure(StatusError(action.message, code=action.status, headers=headers))
        return True

    def _reset(self) -> None:
        """Abort the connection with a TCP RST and no response."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        # detach: the buffered reader still holds the socket, so close() alone would not
        # release the descriptor (and send the RST) until the handler unwinds
        os.close(self.connection.detach())

    def _decode(self, verb: str, raw: bytes) -> tuple[Any, str]:
        content_type = self.headers.get("Content-Type") or "application/json"
        if verb == "PATCH" and content_type.startswith(_APPLY_PATCH):
            raise StatusError("server-side apply is not supported by the test API server", code=415)
        if not raw:
            return None, content_type
        try:
            return json.loads(raw), content_type
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise StatusError.bad_request(f"the request body is not valid JSON: {error}") from error

    def _serve(self, verb: str, raw: bytes) -> tuple[int, dict[str, Any]] | WatchPlan:
        url = urlsplit(self.path)
        if verb == "GET":
            address = self.headers.get("Host") or "127.0.0.1"
            document = compute_discovery(url.path, server_address=address)
            if document is not None:
                return 200, document
        body, content_type = self._decode(verb, raw)
        if verb in ("POST", "PUT", "PATCH") and body is None:
            raise StatusError.bad_request("the request needs a JSON body")
        request = ApiRequest(
            verb=verb,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            body=body,
            content_type=content_type,
            max_watch_seconds=self.server.state.max_watch_seconds,
        )
        result = serve_request(self.server.state.store, request, parse_route(url.path))
        if isinstance(result, WatchPlan):
            return result
        return result.code, result.body

    def _send_json(
        self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (its timeout) and closed the connection
            self.close_connection = True

    def _send_failure(self, failure: StatusError) -> None:
        self._send_json(failure.code, compute_status_body(failure), failure.headers)

    def _stream(self, plan: WatchPlan) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in stream_watch(self.server.state.store, plan):
                data = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True
