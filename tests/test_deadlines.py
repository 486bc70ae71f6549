"""Total deadlines: a server that drips its answer one byte at a time cannot hold a webhook,
registry or Prometheus call past the call's stated timeout (per-read timeouts would never
fire). Each case states a 1 s timeout and must end within a bound of a few seconds."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from mlrollout.deadline import bounded_transport
from mlrollout.errors import ProviderUnavailableError, RegistryUnavailableError
from mlrollout.gates import RegistryClient
from mlrollout.hooks.webhooks import WebhookPayload, send_webhook
from mlrollout.metrics.promapi import PromApi, QueryOrigin
from mlrollout.metrics.retry import RetryPolicy
from mlrollout.metrics.settings import PrometheusSettings
from mlrollout.spec.policy import Webhook

TIMEOUT_S = 1.0
BOUND_S = 4.0
DRIP_S = 0.05


@contextmanager
def drip_server(*, headers_too: bool) -> Iterator[str]:
    """Answers every request one byte every ``DRIP_S``: the body, or everything."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                head += b"Content-Length: 1000000\r\n\r\n"
                if not headers_too:
                    conn.sendall(head)
                stream = (head if headers_too else b"") + b"{" + b" " * 999_999
                for byte in stream:
                    if stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(DRIP_S)
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=2)


pytestmark = pytest.mark.slow  # real sockets and a real second per case

MODES = pytest.mark.parametrize("headers_too", [False, True], ids=["body-drip", "header-drip"])


def _timed(call) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    call()
    return time.monotonic() - started


@MODES
def test_a_slow_drip_webhook_ends_within_its_timeout(headers_too: bool) -> None:
    with drip_server(headers_too=headers_too) as address:
        hook = Webhook.model_validate(
            {"type": "confirm-promotion", "url": f"http://{address}/gate", "timeout": "1s"}
        )
        hook = hook.model_copy(update={"retries": 0})
        payload = WebhookPayload("r", "ns", "Progressing", "img", "0" * 64, "why", 1)
        outcomes = []

        def call() -> None:
            import httpx

            with httpx.Client(transport=bounded_transport()) as client:
                outcomes.append(send_webhook(hook, payload, client=client))

        elapsed = _timed(call)
    assert elapsed < BOUND_S
    [outcome] = outcomes
    assert not outcome.ok
    assert "no answer within 1s" in outcome.message


@MODES
def test_a_slow_drip_registry_ends_within_its_timeout(headers_too: bool) -> None:
    with drip_server(headers_too=headers_too) as address:
        client = RegistryClient(address, plain_http=True, timeout=TIMEOUT_S, attempts=1)

        def call() -> None:
            with pytest.raises(RegistryUnavailableError, match="no complete answer within 1s"):
                client.fetch_manifest("ml/model", "latest")

        elapsed = _timed(call)
        client.close()
    assert elapsed < BOUND_S


@MODES
def test_a_slow_drip_prometheus_ends_within_its_timeout(headers_too: bool) -> None:
    with drip_server(headers_too=headers_too) as address:
        api = PromApi(
            PrometheusSettings(url=f"http://{address}", timeout_s=TIMEOUT_S),
            retry=RetryPolicy(attempts=1),
            sleep=lambda s: None,
        )

        def call() -> None:
            with pytest.raises(ProviderUnavailableError):
                api.fetch_vector("up", at=0.0, origin=QueryOrigin("t", "m", "q"))

        elapsed = _timed(call)
        api.close()
    assert elapsed < BOUND_S
