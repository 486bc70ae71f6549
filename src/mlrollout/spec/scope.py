"""Credential scope: which mounted secrets and destination hosts a rollout may use.

Part of the ``spec`` layer (validated configuration), read by ``metrics.settings`` (the
Prometheus provider), ``controller.gating`` (public keys) and ``controller.webhooks`` /
``controller.notify`` (destinations). It is *controller* configuration, set by whoever runs
the controller (environment of its Pod), never by a rollout:

``MLROLLOUT_ALLOWED_SECRETS``
    Comma-separated names of mounted Secrets a rollout may use as *credentials*
    (``metrics.prometheus.bearerToken`` / ``basicAuth``). Unset: none — a rollout can then
    reference mounted Secrets only as cosign public keys (``gates.signature.publicKeys``),
    which are used to verify and never sent anywhere. ``*`` allows every mounted Secret.
``MLROLLOUT_CREDENTIAL_HOSTS``
    Host patterns (``prom.example``, ``prom.example:9090``, ``*.monitoring.svc``) to which
    credentials may be sent: the controller-wide ``MLROLLOUT_PROMETHEUS_TOKEN`` and any
    allowed secret. The host of ``MLROLLOUT_PROMETHEUS_URL`` is always included. Unset:
    only that host.
``MLROLLOUT_ALLOWED_HOSTS``
    Host patterns a rollout's Prometheus address, webhooks and notifications may name at
    all (a ``SpecError`` naming the field otherwise). Unset: any host except link-local
    addresses (cloud metadata endpoints).
``MLROLLOUT_ALLOW_KEY_FILES``
    Whether ``publicKeys[].file`` may name a path on this machine. ``mlrollout controller``
    treats it as ``false`` unless configured and passes that to its gates (a rollout must
    not make the controller read its files); the CLI, run by the rollout's own author,
    allows it.

The variables are parsed by ``spec.environment`` (a bad value is a ``SpecError`` naming it).

The safe default therefore sends no controller credential to an address a rollout chose.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from mlrollout.errors import SpecError
from mlrollout.spec.environment import DEFAULT_SECRETS_DIR, EnvironmentSettings

__all__ = [
    "DEFAULT_SECRETS_DIR",
    "ENV_ALLOWED_HOSTS",
    "ENV_ALLOWED_SECRETS",
    "ENV_ALLOW_KEY_FILES",
    "ENV_CREDENTIAL_HOSTS",
    "ENV_SECRETS_DIR",
    "CredentialScope",
    "split_host",
]

ENV_ALLOWED_SECRETS = "MLROLLOUT_ALLOWED_SECRETS"
ENV_CREDENTIAL_HOSTS = "MLROLLOUT_CREDENTIAL_HOSTS"
ENV_ALLOWED_HOSTS = "MLROLLOUT_ALLOWED_HOSTS"
ENV_ALLOW_KEY_FILES = "MLROLLOUT_ALLOW_KEY_FILES"
ENV_SECRETS_DIR = "MLROLLOUT_SECRETS_DIR"


def split_host(url: str) -> tuple[str, int | None]:
    """The lower-cased host and explicit port of ``url``; ``SpecError`` when it does not parse."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise SpecError(f"not a valid URL: {exc}") from None
    if not host:
        raise SpecError("not a valid URL: no host")
    return host.lower().rstrip("."), port


def _matches(pattern: str, host: str, port: int | None) -> bool:
    name, sep, wanted = pattern.strip().lower().rpartition(":")
    if not sep or not wanted.isdigit():
        name, wanted = pattern.strip().lower(), ""
    if wanted and port != int(wanted):
        return False
    if name.startswith("*."):
        return host.endswith(name[1:])
    return host == name


def _link_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_link_local
    except ValueError:
        return host == "metadata.google.internal"


@dataclass(frozen=True)
class CredentialScope:
    """The controller's allow-lists (see the module docstring)."""

    allowed_secrets: frozenset[str] = frozenset()
    any_secret: bool = False
    credential_hosts: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] | None = None
    allow_key_files: bool = True

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> CredentialScope:
        """The scope configured in the environment (safe defaults when unset)."""
        return cls.from_settings(EnvironmentSettings.from_environment(environ))

    @classmethod
    def from_settings(cls, settings: EnvironmentSettings) -> CredentialScope:
        """The scope of the environment settings (safe defaults when unset)."""
        secrets = settings.allowed_secrets
        hosts = list(settings.credential_hosts)
        if settings.prometheus_url:
            host, port = split_host(settings.prometheus_url)
            hosts.append(f"{host}:{port}" if port else host)
        return cls(
            allowed_secrets=frozenset(s for s in secrets if s != "*"),
            any_secret="*" in secrets,
            credential_hosts=tuple(hosts),
            allowed_hosts=settings.allowed_hosts or None,
            allow_key_files=settings.allow_key_files,
        )

    def assess_credential_secret(self, secret: str, *, field: str) -> None:
        """``SpecError`` unless a rollout may use the mounted Secret ``secret`` as a credential."""
        if self.any_secret or secret in self.allowed_secrets:
            return
        raise SpecError(
            f"Secret {secret!r} is not allowed as a credential by the controller "
            f"(allow it in {ENV_ALLOWED_SECRETS})",
            path=field,
        )

    def may_send_credentials(self, url: str) -> bool:
        """Whether credentials may be sent to ``url``'s host."""
        host, port = split_host(url)
        return any(_matches(p, host, port) for p in self.credential_hosts)

    def assess_credential_destination(self, url: str, *, field: str) -> None:
        """``SpecError`` unless credentials may be sent to ``url``."""
        if not self.may_send_credentials(url):
            host, _ = split_host(url)
            raise SpecError(
                f"credentials may not be sent to {host} (allow the host in {ENV_CREDENTIAL_HOSTS})",
                path=field,
            )

    def assess_destination(self, url: str, *, field: str) -> None:
        """``SpecError`` unless a rollout may make the controller call ``url``."""
        try:
            host, port = split_host(url)
        except SpecError as exc:
            raise SpecError(exc.reason, path=field) from None
        if self.allowed_hosts is None:
            if _link_local(host):
                raise SpecError(f"link-local address {host} is not allowed", path=field)
            return
        if not any(_matches(p, host, port) for p in self.allowed_hosts):
            raise SpecError(
                f"host {host} is not allowed by the controller ({ENV_ALLOWED_HOSTS})", path=field
            )
