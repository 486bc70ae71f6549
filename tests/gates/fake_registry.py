"""Test support: a registry-shaped HTTP endpoint for httpx.MockTransport.

Serves ``/v2/``, manifests by tag or digest and blobs, with anonymous, Basic or Bearer
auth (token endpoint at ``https://auth.test/token``), blob redirects to another host, and
fault injection (status codes, wrong manifest bytes, exceptions). Records every request.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from .publish import sha

TOKEN_URL = "https://auth.test/token"
CDN_HOST = "cdn.test"
_PATH = re.compile(r"/v2/(?P<repo>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)")


@dataclass
class FakeRegistry:
    """An in-memory distribution registry behind ``transport``."""

    auth: str = "anonymous"
    username: str = "ci"
    password: str = "s3cret"
    token_lifetime: int = 300
    redirect_blobs: bool = False
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    faults: list[Callable[[httpx.Request], httpx.Response | None]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def transport(self) -> httpx.MockTransport:
        """The transport to give ``RegistryClient``."""
        return httpx.MockTransport(self.handle)

    def put_blob(self, repository: str, data: bytes) -> None:
        self.blobs[sha(data)] = data

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> None:
        self.manifests[(repository, reference)] = (data, media_type)
        self.manifests[(repository, sha(data))] = (data, media_type)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for fault in self.faults:
            injected = fault(request)
            if injected is not None:
                return injected
        if request.url.host == "auth.test":
            return self._token(request)
        if request.url.host == CDN_HOST:
            return httpx.Response(200, content=self.blobs[request.url.params["d"]])
        if not self._authorized(request):
            return self._challenge(request)
        return self._serve(request)

    def _serve(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200, json={})
        match = _PATH.fullmatch(request.url.path)
        if not match:
            return httpx.Response(404)
        repo, kind, ref = match["repo"], match["kind"], match["ref"]
        if kind == "manifests":
            found = self.manifests.get((repo, ref))
            if found is None:
                return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
            return httpx.Response(200, content=found[0], headers={"content-type": found[1]})
        if ref not in self.blobs:
            return httpx.Response(404, json={"errors": [{"code": "BLOB_UNKNOWN"}]})
        if self.redirect_blobs:
            return httpx.Response(307, headers={"location": f"https://{CDN_HOST}/b?d={ref}"})
        return httpx.Response(200, content=self.blobs[ref])

    def _authorized(self, request: httpx.Request) -> bool:
        header = request.headers.get("authorization", "")
        if self.auth == "anonymous":
            return True
        if self.auth == "basic":
            return header == _basic(self.username, self.password)
        return header.removeprefix("Bearer ") in self.valid_tokens

    def _challenge(self, request: httpx.Request) -> httpx.Response:
        if self.auth == "basic":
            challenge = 'Basic realm="fake"'
        else:
            stale = request.headers.get("authorization", "").startswith("Bearer ")
            challenge = f'Bearer realm="{TOKEN_URL}",service="fake"'
            if stale:
                challenge += ',error="invalid_token"'
        return httpx.Response(401, headers={"www-authenticate": challenge})

    def _token(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != _basic(self.username, self.password):
            return httpx.Response(401)
        token = f"tok-{next(self._counter)}"
        self.valid_tokens.add(token)
        return httpx.Response(200, json={"token": token, "expires_in": self.token_lifetime})


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
