"""The controller and ``mlrollout simulate`` judge metrics through the same binding.

Both call ``binding.compute_judged_metric`` (spied here) and, for a metric without
pre-rollout inputs, obtain the identical ``JudgedMetric``: the benchmark gates what the
controller gates.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from controller_world import rollout_from
from loop_fakes import FakeClock, MemoryState
from metric_fakes import TEMPLATES, CountingProvider

import mlrollout.cli.simulation_setup as simulation_setup
import mlrollout.controller.analyst as analyst_module
from mlrollout.analysis import JudgedMetric
from mlrollout.bench.simulator import SimSettings
from mlrollout.binding import metrics as binding_metrics
from mlrollout.controller.analyst import MetricsAnalyst
from mlrollout.core.decision import stamp
from mlrollout.model.analysis import MetricKind
from mlrollout.spec import RolloutStatus
from mlrollout.spec.status import Phase, StatusRelease, TrafficSplit


class Spy:
    """Records every JudgedMetric the real binding function returns."""

    def __init__(self) -> None:
        self.made: list[JudgedMetric] = []

    def __call__(self, *args: Any, **kwargs: Any) -> JudgedMetric:
        judged = binding_metrics.compute_judged_metric(*args, **kwargs)
        self.made.append(judged)
        return judged


def _controller_metrics(monkeypatch: pytest.MonkeyPatch) -> list[JudgedMetric]:
    spy = Spy()
    monkeypatch.setattr(analyst_module, "compute_judged_metric", spy)
    raw = rollout_from("canary.yaml")
    raw["spec"]["analysis"]["templates"] = [{"name": "errors"}]
    raw["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 20}, {"analyze": {}}]
    state, clock = MemoryState(raw), FakeClock()
    started = clock.now()
    status = RolloutStatus(
        phase=Phase.PROGRESSING,
        current_step=1,
        step_started_at=stamp(started),
        active_env="blue",
        candidate_env="green",
        release=StatusRelease(
            image="r/x@sha256:" + "a" * 64, model_uri="s3://m", model_sha256="b" * 64
        ),
        traffic={"applied": TrafficSplit(stable_env="blue", canary_env="green", canaryWeight=20)},
    )
    stored = state.write_status(state.read(), status)
    clock.sleep(60)
    analyst = MetricsAnalyst(CountingProvider(ratio=1.0), TEMPLATES, now=clock.now)
    assert analyst.look(stored, now_s=clock.t) is not None
    return spy.made


def test_controller_and_simulate_judge_through_the_same_binding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller = _controller_metrics(monkeypatch)
    spy = Spy()
    monkeypatch.setattr(simulation_setup, "compute_judged_metric", spy)
    templates = simulation_setup.load_templates([])
    settings = replace(SimSettings(), duration_s=600.0)
    setup = simulation_setup.compute_setup(templates, settings)

    # Every metric simulate judges is one the binding made, in order, for every template.
    assert list(setup.specs) == spy.made
    shipped = {f"{t.name}/{m.name}" for t in templates for m in t.spec.metrics}
    assert {s.name for s in setup.specs} == shipped
    # The metric the controller judged is the identical JudgedMetric in the benchmark.
    by_name = {s.name: s for s in setup.specs}
    assert controller
    assert all(by_name[c.name] == c for c in controller)


def test_simulate_gates_what_the_roles_say() -> None:
    templates = simulation_setup.load_templates([])
    setup = simulation_setup.compute_setup(templates, replace(SimSettings(), duration_s=600.0))
    gated = {s.name for s in setup.specs if s.gated}
    assert gated == {"latency/latency-body"}
    holding = {s.name for s in setup.specs if s.hold_windows}
    assert {s.kind for s in setup.specs if s.name in holding} <= {
        MetricKind.ANOMALIES,
        MetricKind.GPU_HEALTH,
    }
    assert set(setup.gated) == {"latency-body"}
    assert setup.sequential.max_duration_s == 600.0
