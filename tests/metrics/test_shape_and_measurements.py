"""Counter-shape recognition and the conversion of query results into analysis measurements."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from mlrollout.analysis.observations import EventCounts, Histogram, ScalarValue
from mlrollout.metrics.measurements import compute_measurement
from mlrollout.metrics.shape import CounterShape, assess_counter_shape
from mlrollout.spec.template import MetricKind

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            "sum(increase(a_total{ {{selector}} }[{{window}}]))",
            CounterShape("a_total{ {{selector}} }", ()),
            id="sum",
        ),
        pytest.param(
            'sum by (le) (increase(b_bucket{ {{selector}}, x="])) or y" }[{{window}}]))',
            CounterShape('b_bucket{ {{selector}}, x="])) or y" }', ("le",)),
            id="by-le-with-tricky-literal",
        ),
        pytest.param("sum(rate(a_total{ {{selector}} }[{{window}}]))", None, id="rate"),
        pytest.param("sum(increase(a{ {{selector}} }[5m]))", None, id="fixed-range"),
        pytest.param(
            "sum(increase(a{ {{selector}} }[{{window}}])) / sum(increase(b[{{window}}]))",
            None,
            id="ratio",
        ),
        pytest.param(
            "count(sum by (s) (increase(a{ {{selector}} }[{{window}}])) > 0)", None, id="count"
        ),
        pytest.param("sum(increase(a{ {{selector}} }[{{window}}] offset 1m))", None, id="offset"),
    ],
)
def test_counter_shape(query: str, expected: CounterShape | None) -> None:
    assert assess_counter_shape(query) == expected


def test_shipped_counter_queries_are_recognised() -> None:
    recognised = []
    for path in sorted((ROOT / "analyses").glob("*.yaml")):
        for metric in yaml.safe_load(path.read_text())["spec"]["metrics"]:
            for name, query in metric["provider"]["prometheus"]["queries"].items():
                if "increase(" in query and not query.startswith("count"):
                    recognised.append((path.stem, name, assess_counter_shape(query) is not None))
    assert recognised
    assert all(ok for *_, ok in recognised), recognised


def _vec(*pairs: tuple[dict[str, str], float]) -> list[tuple[dict[str, str], float]]:
    return list(pairs)


@pytest.mark.parametrize(
    ("kind", "results", "expected"),
    [
        pytest.param(
            MetricKind.ERRORS,
            {"events": _vec(({}, 2.0)), "total": _vec(({}, 50.0), ({}, 50.0))},
            EventCounts(events=2.0, exposure=100.0),
            id="errors",
        ),
        pytest.param(
            MetricKind.ERRORS,
            {"events": None, "total": _vec(({}, 10.0))},
            EventCounts(events=0.0, exposure=10.0),
            id="no error series yet is zero errors",
        ),
        pytest.param(MetricKind.ERRORS, {"events": None, "total": None}, None, id="no total"),
        pytest.param(
            MetricKind.ACCURACY,
            {"events": _vec(({}, math.nan)), "total": _vec(({}, 10.0))},
            None,
            id="nan events",
        ),
        pytest.param(
            MetricKind.ERRORS,
            {"events": _vec(({}, 1.0)), "total": _vec(({}, math.inf))},
            None,
            id="inf total",
        ),
        pytest.param(
            MetricKind.ANOMALIES,
            {"events": None, "sources": None},
            EventCounts(events=0.0, exposure=0.0, sources=0.0),
            id="anomalies none",
        ),
        pytest.param(
            MetricKind.LATENCY_TAIL,
            {"buckets": _vec(({"le": "0.1"}, 3.0), ({"le": "+Inf"}, 5.0), ({"le": "0.05"}, 1.0))},
            Histogram(bounds=(0.05, 0.1), counts=(1.0, 3.0), total_sum=0.0, total_count=5.0),
            id="tail without sum",
        ),
        pytest.param(
            MetricKind.LATENCY_BODY,
            {"buckets": _vec(({"le": "+Inf"}, 5.0))},
            None,
            id="body needs sum",
        ),
        pytest.param(
            MetricKind.LATENCY_BODY,
            {"buckets": _vec(({"le": "0.1"}, 2.0), ({"le": "+Inf"}, 4.0)), "sum": _vec(({}, 0.3))},
            Histogram(bounds=(0.1,), counts=(2.0,), total_sum=0.3, total_count=4.0),
            id="body",
        ),
        pytest.param(
            MetricKind.THRESHOLD, {"value": _vec(({}, 0.5))}, ScalarValue(0.5), id="value"
        ),
        pytest.param(MetricKind.THRESHOLD, {"value": None}, None, id="value empty"),
        pytest.param(MetricKind.THRESHOLD, {"value": _vec(({}, math.nan))}, None, id="value nan"),
        pytest.param(
            MetricKind.LATENCY_TAIL,
            {"buckets": _vec(({"le": "fast"}, 3.0), ({"le": "+Inf"}, 5.0))},
            None,
            id="le not a number",
        ),
        pytest.param(
            MetricKind.LATENCY_TAIL,
            {"buckets": _vec(({"le": "NaN"}, 3.0), ({"le": "+Inf"}, 5.0))},
            None,
            id="le NaN",
        ),
        pytest.param(
            MetricKind.ERRORS,
            {"events": _vec(({}, 1.0)), "total": _vec(({}, 1.7e308), ({}, 1.7e308))},
            None,
            id="counters near 1e308 overflow",
        ),
        pytest.param(
            MetricKind.ERRORS,
            {"events": _vec(({}, 1e300)), "total": _vec(({}, 1e301))},
            None,
            id="counts beyond 2**53",
        ),
    ],
)
def test_compute_measurement(kind: MetricKind, results: dict, expected: object) -> None:
    assert compute_measurement(kind, results) == expected
