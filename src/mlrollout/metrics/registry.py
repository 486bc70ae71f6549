"""The provider registry: each metric answered by the provider its template names.

Part of the ``metrics`` layer. A template metric names ``provider.prometheus`` or
``provider.web``; ``ProviderSet`` implements the ``MetricProvider`` port by sending each
request to the provider of that kind, built on first use and closed with the set. Which
kinds a platform can serve is decided where the set is built: the Kubernetes platform
answers Prometheus queries from a Prometheus server; the local platform answers the same
queries from its own scrapes (``LocalProvider``). A metric whose kind the platform does not
serve is a ``SpecError`` naming the template and metric, never a silent fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum

from mlrollout.analysis.observations import Window
from mlrollout.errors import SpecError
from mlrollout.metrics.local import LocalProvider
from mlrollout.metrics.prometheus import PrometheusProvider
from mlrollout.metrics.provider import MetricProvider, MetricRequest
from mlrollout.metrics.web import WebProvider
from mlrollout.spec.policy import PrometheusConfig
from mlrollout.spec.template import MetricSpec

__all__ = [
    "ProviderKind",
    "ProviderSet",
    "build_cluster_providers",
    "build_local_providers",
    "provider_kind",
]


class ProviderKind(StrEnum):
    """The kinds of provider a template metric can name."""

    PROMETHEUS = "prometheus"
    WEB = "web"


def provider_kind(metric: MetricSpec) -> ProviderKind:
    """The kind of provider ``metric`` names."""
    return ProviderKind.PROMETHEUS if metric.provider.prometheus is not None else ProviderKind.WEB


class ProviderSet:
    """A ``MetricProvider`` that routes each request by its metric's provider kind."""

    def __init__(self, factories: Mapping[ProviderKind, Callable[[], MetricProvider]]) -> None:
        self._factories = dict(factories)
        self._built: dict[ProviderKind, MetricProvider] = {}

    @property
    def kinds(self) -> frozenset[ProviderKind]:
        """The kinds this set can answer."""
        return frozenset(self._factories)

    def check(self, template: str, metric: MetricSpec, *, path: str) -> None:
        """Refuse a metric whose provider kind this platform does not serve."""
        kind = provider_kind(metric)
        if kind not in self._factories:
            served = ", ".join(sorted(self._factories)) or "none"
            raise SpecError(
                f"template {template!r} metric {metric.name!r} uses provider '{kind}', "
                f"which this platform does not serve (serves: {served})",
                path=path,
            )

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        """The windows of ``request`` from the provider its metric names."""
        self.check(request.template, request.metric, path="provider")
        kind = provider_kind(request.metric)
        provider = self._built.get(kind)
        if provider is None:
            provider = self._built[kind] = self._factories[kind]()
        return provider.fetch_windows(request, boundaries=boundaries)

    def close(self) -> None:
        """Close every provider built so far."""
        built, self._built = self._built, {}
        for provider in built.values():
            provider.close()


def build_cluster_providers(config: PrometheusConfig | None) -> ProviderSet:
    """The providers of the Kubernetes platform: a Prometheus server and web endpoints."""
    return ProviderSet(
        {
            ProviderKind.PROMETHEUS: lambda: PrometheusProvider.from_config(config),
            ProviderKind.WEB: WebProvider,
        }
    )


def build_local_providers(scraper: LocalProvider, config: PrometheusConfig | None) -> ProviderSet:
    """The providers of the local platform: the model servers scraped directly by
    ``scraper`` — or the Prometheus of ``config`` when the rollout configures one — and web
    endpoints."""
    if config is not None:
        return build_cluster_providers(config)
    return ProviderSet({ProviderKind.PROMETHEUS: lambda: scraper, ProviderKind.WEB: WebProvider})
