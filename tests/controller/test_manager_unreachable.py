"""The manager with no API server: a clear log line within 10 s, ``/healthz`` says why.

The API server is a closed loopback port (connection refused), reached through a real
kubeconfig and the real client; nothing else is faked.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from mlrollout.controller.manager import Manager, ManagerSettings
from mlrollout.controller.telemetry import HealthServer, Telemetry
from mlrollout.kube import LeaseSettings, connect


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kubeconfig(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    return path


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


def test_unreachable_api_server_is_logged_within_10s_and_healthz_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = connect(kubeconfig=str(_kubeconfig(tmp_path, _closed_port())), timeout=2.0)
    telemetry = Telemetry()
    lease = LeaseSettings(
        lease_duration=timedelta(seconds=3),
        renew_deadline=timedelta(seconds=2),
        retry_period=timedelta(milliseconds=500),
    )
    manager = Manager(client, ManagerSettings(identity="a", lease=lease), telemetry=telemetry)
    health = HealthServer(telemetry, host="127.0.0.1", port=0, ready=lambda: manager.leading)
    health.start()
    caplog.set_level(logging.ERROR, logger="mlrollout.controller")
    thread = threading.Thread(target=manager.run, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        while time.monotonic() - started < 10 and not caplog.records:
            time.sleep(0.05)
        assert caplog.records, "no log line within 10 s"
        line = caplog.records[0].getMessage()
        assert "cannot use the API server" in line
        assert "unreachable" in line
        code, body = _get(f"http://127.0.0.1:{health.port}/healthz")
        assert code == 503
        assert body.startswith("API server unreachable:")
    finally:
        manager.stop()
        thread.join(timeout=10)
        health.stop()
        client.close()
    assert len(caplog.records) == 1  # once per change, not once per retry
