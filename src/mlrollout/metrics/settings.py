"""Connection settings of the Prometheus provider, from the rollout spec and the environment.

Part of the ``metrics`` layer. Reads ``spec.policy.PrometheusConfig`` (address, timeout,
headers, bearer token, basic auth, CA file) and the environment, and produces the frozen
``PrometheusSettings`` that ``promapi`` connects with. Precedence: ``MLROLLOUT_PROMETHEUS_URL``
overrides the spec's address (or stands alone when the spec has none);
``MLROLLOUT_PROMETHEUS_TOKEN`` overrides the spec's bearer token.

Secrets are never read through the Kubernetes API: a ``SecretKeyRef`` names a Secret mounted
into the controller at ``$MLROLLOUT_SECRETS_DIR/<secret>/<key>`` (default directory
``/etc/mlrollout/secrets``). A basic-auth secret holds ``username:password``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlrollout.errors import SpecError
from mlrollout.spec.policy import PrometheusConfig, SecretKeyRef

__all__ = [
    "ENV_SECRETS_DIR",
    "ENV_TOKEN",
    "ENV_URL",
    "PrometheusSettings",
    "compute_settings",
    "fetch_secret",
]

ENV_URL = "MLROLLOUT_PROMETHEUS_URL"
ENV_TOKEN = "MLROLLOUT_PROMETHEUS_TOKEN"
ENV_SECRETS_DIR = "MLROLLOUT_SECRETS_DIR"
DEFAULT_SECRETS_DIR = "/etc/mlrollout/secrets"


@dataclass(frozen=True)
class PrometheusSettings:
    """Everything needed to reach one Prometheus. ``verify`` is a bool or a CA bundle path."""

    url: str
    timeout_s: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict)
    basic_auth: tuple[str, str] | None = None
    verify: bool | str = True

    def __repr__(self) -> str:
        hidden = sorted(self.headers)
        return f"PrometheusSettings(url={self.url!r}, headers={hidden}, timeout={self.timeout_s})"


def fetch_secret(ref: SecretKeyRef, *, environ: Mapping[str, str] | None = None) -> str:
    """The content of a mounted secret key, without surrounding whitespace."""
    env = os.environ if environ is None else environ
    path = Path(env.get(ENV_SECRETS_DIR, DEFAULT_SECRETS_DIR)) / ref.secret / ref.key
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SpecError(
            f"cannot read mounted secret {ref.secret}/{ref.key} at {path}: {exc.strerror}",
            path="metrics.prometheus",
        ) from exc


def compute_settings(
    config: PrometheusConfig | None, *, environ: Mapping[str, str] | None = None
) -> PrometheusSettings:
    """Settings from ``config`` and the environment (precedence in the module docstring)."""
    env = os.environ if environ is None else environ
    url = env.get(ENV_URL) or (config.address if config else None)
    if not url:
        raise SpecError(
            f"no Prometheus address: set metrics.prometheus.address or {ENV_URL}",
            path="metrics.prometheus.address",
        )
    headers = dict(config.headers) if config else {}
    token = env.get(ENV_TOKEN)
    if not token and config and config.bearer_token:
        token = fetch_secret(config.bearer_token, environ=env)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return PrometheusSettings(
        url=url.rstrip("/"),
        timeout_s=config.timeout.total_seconds() if config else 10.0,
        headers=headers,
        basic_auth=_basic_auth(config, env),
        verify=_verify(config),
    )


def _basic_auth(config: PrometheusConfig | None, env: Mapping[str, str]) -> tuple[str, str] | None:
    if config is None or config.basic_auth is None:
        return None
    user, sep, password = fetch_secret(config.basic_auth, environ=env).partition(":")
    if not sep:
        raise SpecError(
            "the basic-auth secret must hold username:password", path="metrics.prometheus.basicAuth"
        )
    return user, password


def _verify(config: PrometheusConfig | None) -> bool | str:
    if config is None:
        return True
    if config.insecure_skip_tls_verify:
        return False
    return config.ca_file or True
