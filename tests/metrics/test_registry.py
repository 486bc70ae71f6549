"""The provider registry: each request to the provider its metric names; others refused."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest
from tests.metrics.test_web import ACCURACY, WINDOW, _request

from mlrollout.analysis.observations import Window
from mlrollout.errors import SpecError
from mlrollout.metrics import MetricRequest, ProviderKind, ProviderSet
from mlrollout.spec.template import MetricSpec

PROMETHEUS_METRIC = MetricSpec.model_validate(
    {
        "name": "error-rate",
        "kind": "errors",
        "provider": {"prometheus": {"queries": {"events": "sum(e)", "total": "sum(t)"}}},
    }
)


class Recording:
    """A provider that records which requests reached it."""

    def __init__(self, name: str, log: list[tuple[str, str]]) -> None:
        self.name, self.log, self.closed = name, log, False

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        self.log.append((self.name, request.metric.name))
        return [Window.empty(60.0)]

    def close(self) -> None:
        self.closed = True


def test_each_request_goes_to_the_provider_its_metric_names() -> None:
    log: list[tuple[str, str]] = []
    built: list[Recording] = []

    def factory(name: str) -> Recording:
        built.append(Recording(name, log))
        return built[-1]

    providers = ProviderSet(
        {
            ProviderKind.PROMETHEUS: lambda: factory("prometheus"),
            ProviderKind.WEB: lambda: factory("web"),
        }
    )
    providers.fetch_windows(_request(ACCURACY), boundaries=WINDOW)
    providers.fetch_windows(_request(PROMETHEUS_METRIC), boundaries=WINDOW)
    providers.fetch_windows(_request(ACCURACY), boundaries=WINDOW)
    assert log == [("web", "labelled"), ("prometheus", "error-rate"), ("web", "labelled")]
    assert len(built) == 2  # built once, on first use
    providers.close()
    assert all(p.closed for p in built)


def test_a_kind_the_platform_does_not_serve_is_refused_naming_the_metric() -> None:
    providers = ProviderSet({ProviderKind.PROMETHEUS: lambda: Recording("p", [])})
    with pytest.raises(SpecError) as caught:
        providers.fetch_windows(_request(ACCURACY), boundaries=WINDOW)
    assert "metric 'labelled' uses provider 'web'" in str(caught.value)
    assert "serves: prometheus" in str(caught.value)
