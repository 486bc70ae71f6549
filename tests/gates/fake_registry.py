"""Test support: a registry-shaped HTTP endpoint for httpx.MockTransport.

Serves ``/v2/``, manifests by tag or digest, blobs and the OCI 1.1 referrers API (off with
``referrers_api=False``, answering 404 like a registry without it), with anonymous, Basic or Bearer
auth (token endpoint at ``https://auth.test/token``), blob redirects to another host, and
fault injection (status codes, wrong manifest bytes, exceptions). Records every request.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from .publish import sha

TOKEN_URL = "https://auth.test/token"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
CDN_HOST = "cdn.test"
_PATH = re.compile(r"/v2/(?P<repo>.+)/(?P<kind>manifests|blobs|referrers)/(?P<ref>[^/]+)")


@dataclass
class FakeRegistry:
    """An in-memory distribution registry behind ``transport``."""

    auth: str = "anonymous"
    username: str = "ci"
    password: str = "s3cret"
    token_lifetime: int = 300
    redirect_blobs: bool = False
    referrers_api: bool = True
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
        if kind == "referrers":
            return self._referrers(repo, ref)
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

    def _referrers(self, repo: str, digest: str) -> httpx.Response:
        """OCI 1.1 ``GET /v2/<name>/referrers/<digest>``, or 404 without the API."""
        if not self.referrers_api:
            return httpx.Response(404, json={"errors": [{"code": "NOT_FOUND"}]})
        entries = []
        for (stored_repo, ref), (data, media_type) in sorted(self.manifests.items()):
            if stored_repo != repo or ref != sha(data):
                continue
            doc = json.loads(data)
            if doc.get("subject", {}).get("digest") != digest:
                continue
            kind = doc.get("artifactType") or doc.get("config", {}).get("mediaType")
            entries.append(
                {"mediaType": media_type, "digest": ref, "size": len(data), "artifactType": kind}
            )
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        return httpx.Response(200, json=index, headers={"content-type": OCI_INDEX})

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
