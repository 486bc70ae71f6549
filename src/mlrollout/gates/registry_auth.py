"""Registry authentication: WWW-Authenticate challenges, Basic credentials, Bearer tokens.

Used by ``oci.RegistryClient`` only. Parsing is pure; ``TokenCache`` remembers tokens per
(realm, service, scope) until they expire (``expires_in``, 60 s when absent). The client
asks for a header before each request and calls ``fetch_token`` after a 401.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Challenge", "Credentials", "TokenCache", "compute_basic_header", "parse_challenge"]

_PARAM = re.compile(r'\s*([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')
DEFAULT_EXPIRY_SECONDS = 60.0
EXPIRY_SKEW_SECONDS = 5.0


@dataclass(frozen=True)
class Credentials:
    """A registry username and password (or identity token as password)."""

    username: str
    password: str = ""

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=***)"


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: scheme plus its parameters."""

    scheme: str
    params: dict[str, str]

    @property
    def error(self) -> str | None:
        """The ``error`` parameter (``invalid_token``, ``insufficient_scope``) if present."""
        return self.params.get("error")


def parse_challenge(header: str | None) -> Challenge:
    """Parse ``Bearer realm="…",service="…",scope="…"`` or ``Basic realm="…"``."""
    if not header:
        raise ValueError("401 without a WWW-Authenticate challenge")
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if not match or match.end() == pos:
            raise ValueError(f"malformed WWW-Authenticate header {header!r}")
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        params[match.group(1).lower()] = value
        pos = match.end()
    return Challenge(scheme=scheme.lower(), params=params)


def compute_basic_header(credentials: Credentials) -> str:
    """The ``Authorization`` value for HTTP Basic."""
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@dataclass
class _Entry:
    token: str
    expires_at: float


class TokenCache:
    """Bearer tokens per scope with expiry; a Basic challenge is remembered as such."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._tokens: dict[str, _Entry] = {}
        self._basic = False

    def header_for(self, scope: str, credentials: Credentials | None) -> str | None:
        """The ``Authorization`` value to send now for ``scope``, or ``None``."""
        if self._basic and credentials is not None:
            return compute_basic_header(credentials)
        entry = self._tokens.get(scope)
        if entry is None or entry.expires_at <= self._monotonic():
            self._tokens.pop(scope, None)
            return None
        return "Bearer " + entry.token

    def remember_basic(self) -> None:
        """The registry asked for Basic: send credentials up front from now on."""
        self._basic = True

    def store(self, scope: str, token: str, *, expires_in: float | None) -> None:
        """Remember ``token`` for ``scope`` for ``expires_in`` seconds (60 when unknown)."""
        lifetime = DEFAULT_EXPIRY_SECONDS if expires_in is None else expires_in
        expires_at = self._monotonic() + max(0.0, lifetime - EXPIRY_SKEW_SECONDS)
        self._tokens[scope] = _Entry(token, expires_at)

    def forget(self, scope: str) -> None:
        """Drop the token for ``scope`` (the registry called it invalid)."""
        self._tokens.pop(scope, None)
