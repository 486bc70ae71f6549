"""Test support: give Debian's docker-registry (distribution 2.8) the OCI 1.1 referrers API.

``ReferrersProxy`` forwards every request to the real registry unchanged, and adds what a
registry with the API does: a manifest pushed with a ``subject`` is answered with the
``OCI-Subject`` header (so cosign writes no ``sha256-<hex>`` fallback tag), and
``GET /v2/<name>/referrers/<digest>`` lists those manifests as an image index. Storage,
digests and blobs stay the real registry's.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_REFERRERS = re.compile(r"/v2/(?P<repo>.+)/referrers/(?P<digest>sha256:[0-9a-f]{64})")
_MANIFEST = re.compile(r"/v2/(?P<repo>.+)/manifests/[^/]+")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class ReferrersProxy:
    """A forwarding proxy that answers the referrers API from what was pushed through it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.referrers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.api_calls = 0
        self._lock = threading.Lock()

    def _record(self, repo: str, body: bytes, media_type: str) -> str | None:
        try:
            doc = json.loads(body)
        except ValueError:
            return None
        subject = doc.get("subject") if isinstance(doc, dict) else None
        if not isinstance(subject, dict) or "digest" not in subject:
            return None
        entry = {
            "mediaType": doc.get("mediaType", media_type),
            "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
            "size": len(body),
            "artifactType": doc.get("artifactType") or doc.get("config", {}).get("mediaType"),
        }
        if doc.get("annotations"):
            entry["annotations"] = doc["annotations"]
        with self._lock:
            self.referrers.setdefault((repo, subject["digest"]), []).append(entry)
        return str(subject["digest"])

    def _index(self, repo: str, digest: str) -> bytes:
        with self._lock:
            self.api_calls += 1
            entries = list(self.referrers.get((repo, digest), []))
        return json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        ).encode()

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Run on loopback; yield ``127.0.0.1:PORT``."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                found = _REFERRERS.fullmatch(path)
                if self.command == "GET" and found:
                    self._reply(200, {"content-type": OCI_INDEX}, proxy._index(*found.groups()))
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                headers["host"] = self.headers.get("host", "")
                upstream = httpx.request(
                    self.command,
                    f"http://{proxy.upstream}{self.path}",
                    headers=headers,
                    content=body,
                )
                extra: dict[str, str] = {}
                manifest = _MANIFEST.fullmatch(path)
                if self.command == "PUT" and manifest and upstream.status_code == 201:
                    media_type = self.headers.get("content-type", "")
                    subject = proxy._record(manifest["repo"], body, media_type)
                    if subject:
                        extra["OCI-Subject"] = subject
                out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
                length = upstream.headers.get("content-length", "0")
                self._reply(upstream.status_code, {**out, **extra}, upstream.content, length)

            def _reply(
                self, status: int, headers: dict[str, str], body: bytes, head_length: str = "0"
            ) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                length = head_length if self.command == "HEAD" else str(len(body))
                self.send_header("content-length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._forward()

            def do_HEAD(self) -> None:
                self._forward()

            def do_PUT(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def do_PATCH(self) -> None:
                self._forward()

            def log_message(self, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
