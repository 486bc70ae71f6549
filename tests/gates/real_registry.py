"""Test support: run Debian's docker-registry (distribution 2.8) on loopback, with a token issuer.

``start_registry`` writes a temp config (filesystem storage in a temp dir, an ephemeral
port) and waits for ``/v2/``. ``TokenIssuer`` is a tiny HTTP token server: it checks Basic
credentials and returns an ES256 JWT whose ``x5c`` certificate is the registry's
``rootcertbundle``, as distribution's token auth expects. ``FaultProxy`` sits in front of a
registry and can rewrite manifests, answer 503, reset connections or stall.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from support.ports import free_port

BINARY = "/usr/bin/docker-registry"
SERVICE = "mlrollout-test"
ISSUER = "mlrollout-test-issuer"
USER, PASSWORD = "ci", "s3cret"


def require_binary() -> str:
    """The registry binary; skip when missing, but fail under CI (``CI`` set)."""
    found = shutil.which("docker-registry") or (BINARY if os.path.exists(BINARY) else None)
    if found:
        return found
    message = "docker-registry is not installed (apt-get install -y docker-registry)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the registry tests")
    pytest.skip(message)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """Issues distribution-2.8 registry tokens (ES256 JWT with an ``x5c`` header)."""

    def __init__(self, directory: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlrollout test issuer")])
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = directory / "root.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.issued = 0
        self.lifetime = 300

    def token(self, scope: str) -> str:
        """A signed JWT granting every action the scope asks for."""
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        access = []
        for item in filter(None, scope.split(" ")):
            kind, name, actions = item.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        claims = {
            "iss": ISSUER,
            "sub": USER,
            "aud": SERVICE,
            "exp": now + self.lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": f"t{self.issued}",
            "access": access,
        }
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        r, s = decode_dss_signature(
            self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        self.issued += 1
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Run the token endpoint on loopback; yield its realm URL."""
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.headers.get("authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                query = parse_qs(urlparse(self.path).query)
                body = json.dumps(
                    {
                        "token": issuer.token(" ".join(query.get("scope", []))),
                        "expires_in": issuer.lifetime,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        with _serving(Handler) as port:
            yield f"http://127.0.0.1:{port}/token"


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """Serve ``handler`` on loopback; on exit, wait for every request thread to end.

    Joining matters: a request still running after its test (a stalled proxy answer)
    would otherwise fail later and print its traceback into another test's stderr.
    """
    handler.timeout = handler.timeout or 10  # an idle keep-alive connection ends too
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = False
    server.block_on_close = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def start_registry(
    directory: Path, *, token_realm: str | None = None, bundle: Path | None = None
) -> Iterator[str]:
    """Run docker-registry on an ephemeral loopback port; yield ``127.0.0.1:PORT``."""
    binary = require_binary()
    port = free_port()
    auth = ""
    if token_realm:
        auth = (
            f"auth:\n  token:\n    realm: {token_realm}\n    service: {SERVICE}\n"
            f"    issuer: {ISSUER}\n    rootcertbundle: {bundle}\n"
        )
    config = directory / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {directory / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
    )
    log = (directory / "registry.log").open("wb")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/v2/", process, directory / "registry.log")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=0.5).status_code in (200, 401):
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not start: {log.read_text()[-2000:]}")


class FaultProxy:
    """An HTTP proxy in front of a registry that misbehaves on request (``mode``)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "pass"

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Run on loopback; yield ``127.0.0.1:PORT``."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                try:
                    self._forward()
                except (httpx.HTTPError, OSError):
                    self.close_connection = True  # the client gave up, or the registry did

            def _forward(self) -> None:
                if proxy.mode == "reset":
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                if proxy.mode == "stall":
                    time.sleep(1.5)
                upstream = httpx.get(
                    f"http://{proxy.upstream}{self.path}",
                    headers={
                        k: v
                        for k, v in self.headers.items()
                        if k.lower() in ("accept", "authorization")
                    },
                )
                status, body = upstream.status_code, upstream.content
                if proxy.mode == "503":
                    status, body = 503, b"unavailable"
                if proxy.mode == "wrong-manifest" and "/manifests/sha256:" in self.path:
                    body = body.replace(b'"schemaVersion": 2', b'"schemaVersion":2')
                self.send_response(status)
                for name in ("content-type", "docker-content-digest", "www-authenticate"):
                    if name in upstream.headers:
                        self.send_header(name, upstream.headers[name])
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        with _serving(Handler) as port:
            yield f"127.0.0.1:{port}"
