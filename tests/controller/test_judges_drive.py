"""Every judge the spec accepts drives a whole rollout: the real analyst and judge registry
behind the reconcile loop, with fake environments, router and metric providers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from controller_world import rollout_from
from loop_fakes import FakeClock, FakeEnvironments, FakeVerifier, MemoryState
from metric_fakes import TEMPLATES, CountingProvider, ScalarProvider, threshold_templates

from mlrollout.controller.analyst import MetricsAnalyst
from mlrollout.controller.effects import Edge
from mlrollout.controller.loop import Reconciler, drive
from mlrollout.metrics.provider import MetricProvider
from mlrollout.spec import AnalysisTemplate
from mlrollout.spec.status import Phase
from mlrollout.traffic.fake import FakeRouter

GPU = threshold_templates()
STEPS = [{"setWeight": 20}, {"analyze": {}}, {"setWeight": 50}, {"analyze": {}}]


def _drive(
    analysis: dict[str, Any], provider: MetricProvider, templates: dict[str, AnalysisTemplate]
) -> tuple[Phase, list[float]]:
    raw = rollout_from("gateway-canary.yaml")
    raw["spec"]["strategy"]["canary"]["steps"] = STEPS
    raw["spec"]["analysis"] = analysis
    state = MemoryState(raw)
    router = FakeRouter(available={"blue": 4, "green": 0})
    clock = FakeClock()
    analyst = MetricsAnalyst(provider, templates, now=clock.now)
    edge = Edge(state=state, **state.identity, environments=FakeEnvironments(router), router=router)
    reconciler = Reconciler(edge=edge, verifier=FakeVerifier(), clock=clock, analyst=analyst)
    final = drive(reconciler, timeout=timedelta(hours=3))
    return final.status.phase, [weights["green"] / 100 for weights, _ in router.writes]


KAYENTA = {
    "templates": [{"name": "errors"}],
    "judge": "kayenta",
    "kayenta": {"interval": "5m", "intervals": 2},
}
THRESHOLD = {
    "templates": [{"name": "gpu-health"}],
    "judge": "threshold",
    "threshold": {"interval": "1m", "failureLimit": 2, "checks": 5},
}


@pytest.mark.parametrize(
    ("analysis", "provider", "templates", "phase", "weights"),
    [
        (KAYENTA, CountingProvider(ratio=1.0, seed=3), TEMPLATES, Phase.SUCCEEDED, [20, 50, 100]),
        (KAYENTA, CountingProvider(ratio=3.0, seed=3), TEMPLATES, Phase.ROLLED_BACK, [20, 0]),
        (
            THRESHOLD,
            ScalarProvider(good=0.5),
            GPU,
            Phase.SUCCEEDED,
            [20, 50, 100],
        ),
        (
            THRESHOLD,
            ScalarProvider(good=0.5, bad_after=7),
            GPU,
            Phase.ROLLED_BACK,
            [20, 50, 0],
        ),
    ],
    ids=["kayenta-promotes", "kayenta-rolls-back", "threshold-promotes", "threshold-rolls-back"],
)
def test_each_judge_drives_a_rollout_to_its_end(
    analysis: dict[str, Any],
    provider: MetricProvider,
    templates: dict[str, AnalysisTemplate],
    phase: Phase,
    weights: list[float],
) -> None:
    assert _drive(analysis, provider, templates) == (phase, weights)
