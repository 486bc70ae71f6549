"""A requests adapter with a total deadline and a size cap, for the Prometheus client.

Part of the ``metrics`` layer, used by ``promapi`` only (prometheus-api-client speaks
requests; the rest of mlrollout speaks httpx and uses ``deadline.bounded_transport``).
Every socket the adapter opens is wrapped in ``deadline.DeadlineSocket``, so the status
line, the headers and the body together end within ``total_s`` however slowly a server
drips them; the body is read up to ``max_bytes`` and refused beyond (``ResponseTooLarge``,
a ``requests.RequestException`` that ``promapi`` translates like any other).
"""

from __future__ import annotations

from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection

from mlrollout.deadline import DeadlineSocket, total_deadline

__all__ = ["BoundedAdapter", "ResponseTooLarge"]


class ResponseTooLarge(requests.RequestException):
    """The answer exceeded the adapter's size cap."""


class _DeadlineHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = DeadlineSocket(self.sock)


class _DeadlineHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = DeadlineSocket(self.sock)


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


class BoundedAdapter(HTTPAdapter):
    """Each request ends within ``total_s`` and reads at most ``max_bytes`` of body."""

    def __init__(self, *, total_s: float, max_bytes: int, **kwargs: Any) -> None:
        self.total_s = total_s
        self.max_bytes = max_bytes
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Pools whose connections honour the deadline."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        """Send, then read the whole body, all inside one total deadline."""
        with total_deadline(self.total_s):
            response = super().send(request, stream=True, **kwargs)
            try:
                body = bytearray()
                for chunk in response.iter_content(chunk_size=64 * 1024):
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise ResponseTooLarge(
                            f"the answer exceeds {self.max_bytes} bytes", response=response
                        )
            finally:
                response.close()
        response._content = bytes(body)
        return response
