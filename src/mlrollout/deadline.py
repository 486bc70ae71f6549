"""Total deadlines for outbound HTTP calls, not per-read timeouts.

Bottom layer, used by every module that calls out over httpx (``gates.oci``,
``controller.webhooks``, ``controller.notify``) and, through a socket wrapper, by the
Prometheus client (``metrics.promapi``, on requests). A per-read timeout lets a server that
drips one byte a second hold a call forever; here every connect, read and write of a call
gets at most the time left until the call's deadline, and fails with the library's own
timeout error once it has passed — so the caller's existing translation applies
(``httpx.TimeoutException`` / ``socket.timeout`` become the ``*UnavailableError`` classes).

``total_deadline(seconds)`` sets the deadline for the calls made inside it (per thread,
nested deadlines keep the earlier one). ``bounded_transport`` is an ``httpx.HTTPTransport``
whose connections honour it; ``DeadlineSocket`` does the same for a plain socket.
"""

from __future__ import annotations

import contextvars
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

__all__ = ["DeadlineSocket", "bounded_transport", "remaining", "total_deadline"]

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "mlrollout_deadline", default=None
)


@contextmanager
def total_deadline(seconds: float) -> Iterator[None]:
    """Calls made inside end within ``seconds`` from now (or an enclosing, earlier deadline)."""
    at = time.monotonic() + max(seconds, 0.0)
    current = _deadline.get()
    token = _deadline.set(at if current is None else min(current, at))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left until the current deadline (None: no deadline set)."""
    at = _deadline.get()
    return None if at is None else at - time.monotonic()


def _clamp(timeout: float | None, error: type[Exception]) -> float | None:
    left = remaining()
    if left is None:
        return timeout
    if left <= 0:
        raise error("the call's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        clamped = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, clamped))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        clamped = _clamp(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, clamped, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        clamped = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, clamped, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def bounded_transport(*, verify: bool | str = True) -> httpx.HTTPTransport:
    """An httpx transport whose every socket operation honours ``total_deadline``."""
    transport = httpx.HTTPTransport(verify=verify)
    context = transport._pool._ssl_context
    transport._pool = httpcore.ConnectionPool(
        ssl_context=context, network_backend=_DeadlineBackend()
    )
    return transport


class DeadlineSocket:
    """A socket proxy whose reads and writes honour ``total_deadline`` (for http.client)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._timeout = sock.gettimeout()

    def _arm(self) -> None:
        self._sock.settimeout(_clamp(self._timeout, TimeoutError))

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._arm()
        return self._sock.recv(bufsize, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._arm()
        self._sock.sendall(data, flags)

    def settimeout(self, value: float | None) -> None:
        self._timeout = value
        self._sock.settimeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def makefile(self, mode: str = "r", buffering: int | None = None, **_: Any) -> Any:
        raw = socket.SocketIO(self, "rb" if "r" in mode else "wb")  # type: ignore[arg-type]
        # As socket.makefile does: the file keeps the socket open until both are closed.
        self._sock._io_refs += 1  # type: ignore[attr-defined]
        return raw if buffering == 0 else _buffered(raw, mode)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _buffered(raw: Any, mode: str) -> Any:
    import io

    if "r" in mode:
        return io.BufferedReader(raw)
    return io.BufferedWriter(raw)
