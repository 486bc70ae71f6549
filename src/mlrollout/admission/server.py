"""``AdmissionServer``: AdmissionReview v1 over HTTPS with the standard library only.

Part of the ``admission`` package: ``http.server`` + ``ssl`` (TLS 1.2+, certificate and
key from files, the handshake done in the connection's own thread so a slow client cannot
stall the others). ``POST /validate`` takes a review of at most ``max_body`` bytes and
answers within ``review_timeout`` seconds: a review that does not finish in time, or any
unexpected failure, is denied (fail closed) — never a traceback. ``GET /healthz`` answers
200 for probes. Decisions are ``checker.ImageChecker``'s.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mlrollout.admission.checker import AdmissionVerdict, ImageChecker
from mlrollout.admission.review import build_response, parse_review
from mlrollout.errors import SpecError

__all__ = ["AdmissionServer", "load_tls_context"]

log = logging.getLogger("mlrollout.admission")

MAX_BODY = 3 * 1024 * 1024  # the API server's own request limit is 3 MiB
SOCKET_TIMEOUT = 10.0


def load_tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or later); ``SpecError`` naming a bad file."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path, flag in ((cert_file, "--tls-cert-file"), (key_file, "--tls-private-key-file")):
        if not path.is_file():
            raise SpecError("no such file", source=str(path), path=flag)
    try:
        context.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    except (ssl.SSLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc.__class__.__name__
        raise SpecError(
            f"not a usable PEM certificate and private key ({reason})",
            source=f"{cert_file}, {key_file}",
        ) from None
    return context


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: AdmissionServer

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS handshake in this connection's thread, then the HTTP exchange."""
        request.settimeout(SOCKET_TIMEOUT)
        try:
            wrapped = self.owner.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            _Handler(wrapped, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line, never a traceback on the console."""
        log.warning("connection from %s ended with an error", client_address[0])


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    server_version = "mlrollout-admission"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/validate":
            self._send(404, {"error": "not found"})
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(411, {"error": "Content-Length required"})
            return
        if int(length) > self.server.owner.max_body:
            self.close_connection = True
            self._send(413, {"error": f"review larger than {self.server.owner.max_body} bytes"})
            return
        try:
            body = self.rfile.read(int(length))
        except (OSError, TimeoutError):
            self.close_connection = True
            return
        status, answer = self.server.owner.answer(body)
        self._send(status, answer)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


class AdmissionServer:
    """Serves reviews until :meth:`stop`; also a context manager."""

    def __init__(
        self,
        checker: ImageChecker,
        tls: ssl.SSLContext,
        *,
        host: str = "0.0.0.0",
        port: int = 8443,
        max_body: int = MAX_BODY,
        review_timeout: float = 8.0,
        workers: int = 8,
    ) -> None:
        self.checker = checker
        self.tls = tls
        self.max_body = max_body
        self.review_timeout = review_timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="review")
        self._http = _HttpServer((host, port), _Handler, bind_and_activate=False)
        self._http.owner = self
        self._thread: threading.Thread | None = None
        self._bind()

    def _bind(self) -> None:
        try:
            self._http.server_bind()
            self._http.server_activate()
        except OSError as exc:
            self._http.server_close()
            address = self._http.server_address
            where = f"{address[0]!s}:{address[1]}"
            raise SpecError(f"cannot listen on {where}: {exc.strerror}", path="--port") from None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        return int(self._http.server_address[1])

    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON answer to one request body (never raises)."""
        try:
            request = parse_review(body)
        except SpecError as exc:
            return 400, {"error": f"not an AdmissionReview v1: {exc}"}
        future = self._pool.submit(self.checker.review, request)
        try:
            verdict = future.result(timeout=self.review_timeout)
        except FutureTimeout:
            verdict = AdmissionVerdict(
                False, f"verification did not finish within {self.review_timeout:g}s"
            )
        except Exception as exc:
            log.error("review %s failed: %s: %s", request.uid, type(exc).__name__, exc)
            verdict = AdmissionVerdict(False, f"internal error: {type(exc).__name__}")
        log.info(
            "review %s %s %s/%s: %s",
            request.uid,
            "allowed" if verdict.allowed else "denied",
            request.namespace,
            request.kind,
            verdict.message,
        )
        return 200, build_response(request.uid, allowed=verdict.allowed, message=verdict.message)

    def start(self) -> AdmissionServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` is called from another."""
        self._http.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._http.shutdown()
        self._http.server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> AdmissionServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
