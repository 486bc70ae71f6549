"""Loopback HTTP serving for the local sandbox: one server thread, JSON answers, bounded bodies.

Part of the ``local`` sandbox: the reference model server and the weighted proxy are both a
``LoopbackServer`` (an HTTP server on a loopback address, served from a daemon thread,
usable as a context manager), and their handlers answer with :func:`reply` and read request
bodies with :func:`read_body`. The load generators send to loopback addresses only.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["LOOPBACK", "MAX_BODY", "LoopbackServer", "read_body", "reply", "served_by"]

LOOPBACK = ("127.0.0.1", "::1", "localhost")
MAX_BODY = 1_000_000
"""The largest request or answer body read, in bytes."""


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up before its answer is written (a scrape or request that timed
    out) is the client's business: no traceback on stderr. Anything else is reported."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):  # broken pipe, reset
            return
        super().handle_error(request, client_address)


class LoopbackServer:
    """An HTTP server on a loopback address, served from a daemon thread (``start`` /
    ``stop``, or a context manager); its handlers reach it through :func:`served_by`."""

    def __init__(
        self, *, host: str, port: int, handler: type[BaseHTTPRequestHandler], what: str
    ) -> None:
        if host not in LOOPBACK:
            raise ValueError(f"the {what} binds loopback only, not {host}")
        self._http = _QuietServer((host, port), handler)
        self._http.daemon_threads = True
        self._http.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), daemon=True, name=what
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def served_by(handler: BaseHTTPRequestHandler) -> Any:
    """The ``LoopbackServer`` whose HTTP server runs ``handler``."""
    return handler.server.owner  # type: ignore[attr-defined]


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body (empty without ``Content-Length``), at most ``MAX_BODY`` bytes."""
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(min(length, MAX_BODY)) if length else b""


def reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: bytes,
    content_type: str = "application/json",
) -> None:
    """Answer with ``payload`` and its length."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
