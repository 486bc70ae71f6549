"""An OCI distribution client on httpx: manifests and blobs, auth, redirects, size caps.

Used by ``verify`` (and through it the CLI and the controller). The one place where httpx
errors become ``RegistryError``/``RegistryUnavailableError``; transient failures are retried
a bounded number of times with an injected sleep, then raised so the caller fails closed.
A manifest's digest is always computed from the bytes received, never read from a header.
HTTPS is used except for loopback registries or when ``plain_http`` is set explicitly.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from mlrollout.deadline import bounded_transport, total_deadline
from mlrollout.errors import GateError, RegistryError, RegistryUnavailableError
from mlrollout.gates.manifest import MANIFEST_ACCEPT, Descriptor, Manifest, parse_manifest
from mlrollout.gates.reasons import Reason
from mlrollout.gates.registry_auth import (
    Credentials,
    TokenCache,
    compute_basic_header,
    parse_challenge,
)
from mlrollout.model import Sha256
from mlrollout.redaction import register_secret

__all__ = [
    "REFERRERS_ACCEPT",
    "Limits",
    "RegistryClient",
    "compute_base_url",
    "decide_loopback",
]

_ERROR_BODY_BYTES = 64 * 1024
REFERRERS_ACCEPT = "application/vnd.oci.image.index.v1+json"


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile registry from exhausting memory or looping."""

    max_manifest_bytes: int = 4 * 1024 * 1024
    max_blob_bytes: int = 16 * 1024 * 1024
    max_token_bytes: int = 64 * 1024
    max_redirects: int = 5
    max_referrers: int = 64
    max_layers: int = 32


def decide_loopback(host: str) -> bool:
    """True for ``localhost``, ``127.0.0.0/8`` and ``::1`` (with or without a port)."""
    name = host.rsplit("]", 1)[0].lstrip("[") if host.startswith("[") else host.split(":")[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def compute_base_url(registry: str, *, plain_http: bool) -> str:
    """``https://host`` (Docker Hub's API host for ``docker.io``); plain HTTP only if allowed."""
    host = "registry-1.docker.io" if registry == "docker.io" else registry
    scheme = "http" if plain_http or decide_loopback(host) else "https"
    return f"{scheme}://{host}"


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _read_capped(response: httpx.Response, limit: int, *, truncate: bool) -> bytes:
    """Read at most ``limit`` bytes; one more when ``truncate`` (so a lying size shows)."""
    buffer = bytearray()
    for chunk in response.iter_bytes():
        buffer += chunk
        if len(buffer) > limit:
            if truncate:
                return bytes(buffer[: limit + 1])
            raise RegistryError(f"{response.request.url} exceeds the {limit}-byte cap")
    return bytes(buffer)


class RegistryClient:
    """Reads manifests and blobs from one registry with anonymous, Basic or Bearer auth."""

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        plain_http: bool = False,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        limits: Limits = Limits(),
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = compute_base_url(registry, plain_http=plain_http)
        self._plain_http = plain_http
        self._credentials = credentials
        self._limits = limits
        self._tokens = TokenCache(monotonic=monotonic)
        self._timeout = timeout  # the total deadline of each request (``deadline``)
        self._http = httpx.Client(
            transport=transport or bounded_transport(), timeout=timeout, follow_redirects=False
        )
        self._retrying = Retrying(
            retry=retry_if_exception_type(RegistryUnavailableError),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            sleep=sleep,
            reraise=True,
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections."""
        self._http.close()

    @property
    def limits(self) -> Limits:
        """The caps this client enforces (callers apply ``max_layers`` to what they fetch)."""
        return self._limits

    def fetch_ping(self) -> None:
        """``GET /v2/`` (authenticating if challenged); raise if the API is not there."""
        self._get(f"{self.base_url}/v2/", scope="", accept=None, limit=_ERROR_BODY_BYTES)

    def fetch_manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest at a tag or digest, ``None`` if unknown; digest checked from bytes."""
        url = f"{self.base_url}/v2/{repository}/manifests/{reference}"
        got = self._get(
            url,
            scope=_pull(repository),
            accept=MANIFEST_ACCEPT,
            limit=self._limits.max_manifest_bytes,
        )
        if got is None:
            return None
        response, body = got
        digest = Sha256(hashlib.sha256(body).hexdigest())
        if reference.startswith("sha256:") and str(digest) != reference:
            raise GateError(
                Reason.MANIFEST_DIGEST_MISMATCH.value,
                f"registry served {digest} for {repository}@{reference}",
            )
        try:
            return parse_manifest(
                body, digest=digest, content_type=response.headers.get("content-type")
            )
        except ValueError as exc:
            raise GateError(Reason.MANIFEST_UNSUPPORTED.value, f"{url}: {exc}") from exc

    def fetch_blob(self, repository: str, digest: str, *, size: int) -> bytes:
        """At most ``size + 1`` bytes of a blob (the caller checks size and digest)."""
        if size > self._limits.max_blob_bytes:
            raise RegistryError(f"blob {digest} of {size} bytes exceeds the cap")
        url = f"{self.base_url}/v2/{repository}/blobs/{digest}"
        got = self._get(url, scope=_pull(repository), accept=None, limit=size, truncate=True)
        if got is None:
            raise RegistryError(f"blob {digest} is missing from {repository}")
        return got[1]

    def fetch_referrers(self, repository: str, digest: Sha256) -> tuple[Descriptor, ...]:
        """The manifests that refer to ``digest`` (OCI 1.1), at most ``max_referrers``.

        Uses ``GET /v2/<name>/referrers/<digest>`` (following ``Link: rel="next"`` pages);
        when the registry has no referrers API (404) the referrers tag schema: the index
        at tag ``sha256-<hex>``. No referrers is an empty tuple.
        """
        url: str | None = f"{self.base_url}/v2/{repository}/referrers/{digest}"
        found: list[Descriptor] = []
        first = True
        pages = 0
        while url is not None:
            pages += 1
            if pages > self._limits.max_referrers:
                raise GateError(Reason.TOO_MANY_REFERRERS.value, f"{url}: too many pages")
            got = self._get_referrers_page(url, repository, first=first)
            if got is None:
                return self._fetch_referrers_tag(repository, digest) if first else tuple(found)
            first = False
            found += self._parse_referrers(got[1], url, got[0].headers.get("content-type"))
            self._check_referrer_count(len(found), digest)
            url = _next_page(got[0])
        return tuple(found)

    def _get_referrers_page(
        self, url: str, repository: str, *, first: bool
    ) -> tuple[httpx.Response, bytes] | None:
        """One page; on the first, a 4xx other than auth means "no referrers API" like 404
        (registries answer 400 or 405 for an unknown endpoint); 5xx stays a failure."""
        try:
            return self._get(
                url,
                scope=_pull(repository),
                accept=REFERRERS_ACCEPT,
                limit=self._limits.max_manifest_bytes,
            )
        except RegistryUnavailableError:
            raise
        except RegistryError as exc:
            if first and _unsupported_endpoint(exc):
                return None
            raise

    def _fetch_referrers_tag(self, repository: str, digest: Sha256) -> tuple[Descriptor, ...]:
        index = self.fetch_manifest(repository, f"sha256-{digest.hex}")
        if index is None or not index.is_index:
            return ()
        self._check_referrer_count(len(index.descriptors), digest)
        return index.descriptors

    def _parse_referrers(
        self, body: bytes, url: str, content_type: str | None
    ) -> tuple[Descriptor, ...]:
        digest = Sha256(hashlib.sha256(body).hexdigest())
        try:
            index = parse_manifest(body, digest=digest, content_type=content_type)
        except ValueError as exc:
            raise GateError(Reason.MANIFEST_UNSUPPORTED.value, f"{url}: {exc}") from exc
        if not index.is_index:
            raise GateError(Reason.MANIFEST_UNSUPPORTED.value, f"{url} is not an image index")
        return index.descriptors

    def _check_referrer_count(self, count: int, digest: Sha256) -> None:
        if count > self._limits.max_referrers:
            raise GateError(
                Reason.TOO_MANY_REFERRERS.value,
                f"{digest} has more than {self._limits.max_referrers} referrers",
            )

    def _get(
        self, url: str, *, scope: str, accept: str | None, limit: int, truncate: bool = False
    ) -> tuple[httpx.Response, bytes] | None:
        return self._retrying(
            self._get_once, url, scope=scope, accept=accept, limit=limit, truncate=truncate
        )

    def _get_once(
        self, url: str, *, scope: str, accept: str | None, limit: int, truncate: bool
    ) -> tuple[httpx.Response, bytes] | None:
        authorization = self._tokens.header_for(scope, self._credentials)
        response, body = self._exchange(url, accept, authorization, limit, truncate)
        if response.status_code == 401:
            self._authorize(response, scope)
            authorization = self._tokens.header_for(scope, self._credentials)
            response, body = self._exchange(url, accept, authorization, limit, truncate)
        if response.status_code == 404:
            return None
        _raise_for_status(response)
        return response, body

    def _exchange(
        self, url: str, accept: str | None, authorization: str | None, limit: int, truncate: bool
    ) -> tuple[httpx.Response, bytes]:
        origin = current = httpx.URL(url)
        for _ in range(self._limits.max_redirects + 1):
            headers = {"Accept": accept} if accept else {}
            if authorization and _same_origin(current, origin):
                headers["Authorization"] = authorization
            try:
                with (
                    total_deadline(self._timeout),
                    self._http.stream("GET", current, headers=headers) as response,
                ):
                    if response.is_redirect:
                        current = self._redirect_target(current, response)
                        continue
                    ok = response.status_code == 200
                    cap = limit if ok else _ERROR_BODY_BYTES
                    return response, _read_capped(response, cap, truncate=truncate or not ok)
            except httpx.TimeoutException as exc:
                raise RegistryUnavailableError(
                    f"{current}: no complete answer within {self._timeout:g}s"
                ) from exc
            except httpx.TransportError as exc:
                raise RegistryUnavailableError(f"{current}: {type(exc).__name__}: {exc}") from exc
        raise RegistryError(f"{url}: more than {self._limits.max_redirects} redirects")

    def _redirect_target(self, current: httpx.URL, response: httpx.Response) -> httpx.URL:
        target = current.join(response.headers.get("location", ""))
        downgrade = target.scheme == "http" and current.scheme == "https"
        if downgrade and not (self._plain_http or decide_loopback(target.netloc.decode())):
            raise RegistryError(f"refusing redirect from HTTPS to {target}")
        if target.scheme not in ("http", "https"):
            raise RegistryError(f"refusing redirect to {target}")
        return target

    def _authorize(self, response: httpx.Response, scope: str) -> None:
        try:
            challenge = parse_challenge(response.headers.get("www-authenticate"))
        except ValueError as exc:
            raise RegistryError(f"{response.request.url}: {exc}") from exc
        if challenge.scheme == "basic":
            if self._credentials is None:
                raise RegistryError(f"{response.request.url}: registry requires credentials")
            self._tokens.remember_basic()
            return
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            raise RegistryError(f"unsupported authentication challenge {challenge.scheme!r}")
        self._tokens.forget(scope)
        token, expires_in = self._fetch_token(challenge.params, scope)
        self._tokens.store(scope, token, expires_in=expires_in)

    def _fetch_token(self, params: dict[str, str], scope: str) -> tuple[str, float | None]:
        try:
            realm = httpx.URL(params["realm"])
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise RegistryError(f"unusable token realm: {exc}") from None
        if realm.scheme != "https" and not (
            self._plain_http or decide_loopback(realm.netloc.decode())
        ):
            raise RegistryError(f"refusing token realm over plain HTTP: {realm}")
        query = {k: v for k, v in (("service", params.get("service")), ("scope", scope)) if v}
        url = str(realm.copy_merge_params(query))
        basic = compute_basic_header(self._credentials) if self._credentials else None
        limit = self._limits.max_token_bytes
        response, body = self._exchange(url, "application/json", basic, limit, False)
        _raise_for_status(response)
        return _parse_token(body, url)


def _unsupported_endpoint(exc: RegistryError) -> bool:
    return any(f"HTTP {code}" in str(exc) for code in (400, 405, 406))


def _next_page(response: httpx.Response) -> str | None:
    """The ``Link: <url>; rel="next"`` target, on the same origin only."""
    link = response.links.get("next")
    if not link or "url" not in link:
        return None
    target = response.request.url.join(link["url"])
    return str(target) if _same_origin(target, response.request.url) else None


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    where = f"{response.request.method} {response.request.url}"
    if status == 429 or status >= 500:
        raise RegistryUnavailableError(f"{where}: HTTP {status}")
    if status != 200:
        raise RegistryError(f"{where}: HTTP {status}")


def _parse_token(body: bytes, url: str) -> tuple[str, float | None]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RegistryError(f"token endpoint {url} did not answer usable JSON") from exc
    token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistryError(f"token endpoint {url} returned no token")
    register_secret(token)
    expires = doc.get("expires_in")
    return token, float(expires) if isinstance(expires, int | float) and expires > 0 else None
