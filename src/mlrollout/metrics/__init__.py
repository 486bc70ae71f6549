"""Metrics layer: the ``MetricProvider`` port, the Prometheus provider and query rendering.

Sits between the controller (which asks for per-window measurements of a canary and a
baseline) and metrics backends. Providers fetch numbers and never judge: the ``analysis``
layer turns the ``Window``s they return into evidence. Modules: ``provider`` (the port and
the recorder), ``prometheus`` (the provider), ``web`` (JSON endpoints through httpx),
``local`` (direct scrapes of model servers, no Prometheus), ``registry`` (each metric to
the provider its template names), ``promapi`` (HTTP boundary, error
translation), ``retry``, ``settings``, ``query`` (placeholder rendering), ``shape``,
``increase`` (exact counter increases) and ``measurements`` (results to analysis types).
"""

from __future__ import annotations

from mlrollout.metrics.local import LocalProvider
from mlrollout.metrics.prometheus import PrometheusProvider
from mlrollout.metrics.provider import MetricProvider, MetricRequest, VariantScope, record_windows
from mlrollout.metrics.query import QueryContext, compute_selector, quote_string, render_query
from mlrollout.metrics.registry import ProviderKind, ProviderSet, provider_kind
from mlrollout.metrics.settings import PrometheusSettings, compute_settings
from mlrollout.metrics.web import WebProvider

__all__ = [
    "LocalProvider",
    "MetricProvider",
    "MetricRequest",
    "PrometheusProvider",
    "PrometheusSettings",
    "ProviderKind",
    "ProviderSet",
    "QueryContext",
    "VariantScope",
    "WebProvider",
    "compute_selector",
    "compute_settings",
    "provider_kind",
    "quote_string",
    "record_windows",
    "render_query",
]
