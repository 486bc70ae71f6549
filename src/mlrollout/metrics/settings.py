"""Connection settings of the Prometheus provider, from the rollout spec and the environment.

Part of the ``metrics`` layer. Reads ``spec.policy.PrometheusConfig`` (address, timeout,
headers, bearer token, basic auth, CA file) and the environment, and produces the frozen
``PrometheusSettings`` that ``promapi`` connects with. Precedence: ``MLROLLOUT_PROMETHEUS_URL``
overrides the spec's address (or stands alone when the spec has none);
``MLROLLOUT_PROMETHEUS_TOKEN`` overrides the spec's bearer token.

Scope (``spec.scope``, controller configuration): the controller-wide token is sent only to
hosts the controller configured (``MLROLLOUT_PROMETHEUS_URL``'s host and
``MLROLLOUT_CREDENTIAL_HOSTS``), never to an arbitrary address a rollout names; a rollout's
own ``bearerToken``/``basicAuth`` must name an allowed Secret and an allowed host.

Secrets are never read through the Kubernetes API: a ``SecretKeyRef`` names a Secret mounted
into the controller at ``$MLROLLOUT_SECRETS_DIR/<secret>/<key>`` (default directory
``/etc/mlrollout/secrets``). A basic-auth secret holds ``username:password``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mlrollout.errors import SpecError
from mlrollout.redaction import register_secret
from mlrollout.spec.environment import EnvironmentSettings
from mlrollout.spec.policy import PrometheusConfig, SecretKeyRef
from mlrollout.spec.scope import ENV_SECRETS_DIR, CredentialScope
from mlrollout.spec.yamlfile import read_regular_file

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
    return _read_secret(ref, EnvironmentSettings.from_environment(environ))


def _read_secret(ref: SecretKeyRef, env: EnvironmentSettings) -> str:
    path = env.secret_path(ref.secret, ref.key)
    try:
        value = read_regular_file(path, limit=64 * 1024).decode("utf-8").strip()
    except (SpecError, UnicodeDecodeError) as exc:
        problem = exc.reason if isinstance(exc, SpecError) else "not UTF-8"
        raise SpecError(
            f"cannot read mounted secret {ref.secret}/{ref.key} at {path}: {problem}",
            path="metrics.prometheus",
        ) from None
    register_secret(value)
    return value


def compute_settings(
    config: PrometheusConfig | None, *, environ: Mapping[str, str] | None = None
) -> PrometheusSettings:
    """Settings from ``config`` and the environment (precedence in the module docstring)."""
    env = EnvironmentSettings.from_environment(environ)
    scope = CredentialScope.from_settings(env)
    url = env.prometheus_url or (config.address if config else None)
    if not url:
        raise SpecError(
            f"no Prometheus address: set metrics.prometheus.address or {ENV_URL}",
            path="metrics.prometheus.address",
        )
    if not env.prometheus_url:
        scope.assess_destination(url, field="metrics.prometheus.address")
    headers = dict(config.headers) if config else {}
    token = _token(config, env, scope=scope, url=url)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return PrometheusSettings(
        url=url.rstrip("/"),
        timeout_s=config.timeout.total_seconds() if config else 10.0,
        headers=headers,
        basic_auth=_basic_auth(config, env, scope=scope, url=url),
        verify=_verify(config),
    )


def _token(
    config: PrometheusConfig | None,
    env: EnvironmentSettings,
    *,
    scope: CredentialScope,
    url: str,
) -> str | None:
    """The controller's token when ``url`` is a host it may go to; else the rollout's own."""
    token = env.prometheus_token
    controller_token = token.get_secret_value() if token is not None else None
    if controller_token:
        register_secret(controller_token)
        if scope.may_send_credentials(url):
            return controller_token
    if config is None or config.bearer_token is None:
        return None
    field_path = "metrics.prometheus.bearerToken"
    scope.assess_credential_secret(config.bearer_token.secret, field=field_path)
    scope.assess_credential_destination(url, field=field_path)
    return _read_secret(config.bearer_token, env)


def _basic_auth(
    config: PrometheusConfig | None,
    env: EnvironmentSettings,
    *,
    scope: CredentialScope,
    url: str,
) -> tuple[str, str] | None:
    if config is None or config.basic_auth is None:
        return None
    field_path = "metrics.prometheus.basicAuth"
    scope.assess_credential_secret(config.basic_auth.secret, field=field_path)
    scope.assess_credential_destination(url, field=field_path)
    user, sep, password = _read_secret(config.basic_auth, env).partition(":")
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
