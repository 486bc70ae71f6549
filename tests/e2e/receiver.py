"""A loopback HTTP receiver standing in for a release gate and a Slack channel in the e2e tests.

Part of the e2e test bed (``tests/e2e``). ``HookReceiver`` answers every ``POST`` with 200
(a ``confirm-promotion`` webhook that confirms; an incoming Slack webhook that accepts) and
keeps each call's path and JSON body, so a test can assert what the controller asked and
announced. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["HookCall", "HookReceiver"]


@dataclass(frozen=True)
class HookCall:
    """One request received: its path and decoded JSON body (None when not JSON)."""

    path: str
    body: Any


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        receiver: HookReceiver = self.server.receiver  # type: ignore[attr-defined]
        with receiver.lock:
            receiver.received.append(HookCall(self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, format: str, *args: Any) -> None:
        return


class HookReceiver:
    """Serves on 127.0.0.1 in a thread until ``stop``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[HookCall] = []
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._http.daemon_threads = True
        self._http.receiver = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        """The URL of ``path`` on this receiver."""
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def calls(self, path: str) -> list[HookCall]:
        """The calls received on ``path`` so far."""
        with self.lock:
            return [c for c in self.received if c.path == path]

    def stop(self) -> None:
        """Stop serving."""
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)
