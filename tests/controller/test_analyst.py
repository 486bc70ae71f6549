"""The analyst: spec metrics onto the judge, windows fetched on shared boundaries, evidence
persisted in the status and carried across steps of one build only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from controller_world import rollout_from
from loop_fakes import FakeClock, MemoryState
from metric_fakes import (
    TEMPLATES,
    CountingProvider,
    FlakyProvider,
    ScalarProvider,
    SilentProvider,
    threshold_templates,
)

from mlrollout.binding import bind_metrics
from mlrollout.controller.analyst import MetricsAnalyst
from mlrollout.core.decision import stamp
from mlrollout.core.observation import Observation
from mlrollout.core.phases import current_look
from mlrollout.errors import SpecError
from mlrollout.model.analysis import AnalysisDecision, MetricRole, Verdict
from mlrollout.report import collect_rollout
from mlrollout.report.record import FindingKind
from mlrollout.spec import RolloutStatus
from mlrollout.spec.analysis import AnalysisRecord
from mlrollout.spec.status import Phase, StatusRelease, TrafficSplit
from mlrollout.spec.template import AnalysisTemplate


def _stored(
    state: MemoryState, *, step: int, started: datetime, analysis: AnalysisRecord | None = None
) -> Any:
    status = RolloutStatus(
        phase=Phase.PROGRESSING,
        current_step=step,
        step_started_at=stamp(started),
        active_env="blue",
        candidate_env="green",
        release=StatusRelease(
            image="r/x@sha256:" + "a" * 64, model_uri="s3://m", model_sha256="b" * 64
        ),
        traffic={"applied": TrafficSplit(stable_env="blue", canary_env="green", canaryWeight=20)},
        analysis=analysis,
    )
    stored = state.read()
    return state.write_status(stored, status)


def _rollout() -> MemoryState:
    raw = rollout_from("canary.yaml")
    raw["spec"]["analysis"]["templates"] = [{"name": "errors"}]
    raw["spec"]["strategy"]["canary"]["steps"] = [
        {"setWeight": 20},
        {"analyze": {}},
        {"setWeight": 50},
        {"analyze": {}},
    ]
    return MemoryState(raw)


def _run(
    analyst: MetricsAnalyst,
    state: MemoryState,
    clock: FakeClock,
    step: int,
    started: datetime,
    analysis: AnalysisRecord | None = None,
) -> Any:
    stored = _stored(state, step=step, started=started, analysis=analysis)
    look = None
    for _ in range(240):
        clock.sleep(30)
        look = analyst.look(stored, now_s=clock.t)
        assert look is not None
        stored = state.write_status(
            stored, stored.status.model_copy(update={"analysis": look.record})
        )
        if look.decision is not AnalysisDecision.CONTINUE or look.baseline_overdue:
            break
    return look


def test_binds_every_metric_of_the_referenced_templates() -> None:
    state = _rollout()
    bound = bind_metrics(state.read().rollout, TEMPLATES)
    assert [b.key for b in bound] == ["errors/error-rate"]


def test_a_doubled_error_rate_rolls_back() -> None:
    state, clock = _rollout(), FakeClock()
    analyst = MetricsAnalyst(CountingProvider(ratio=2.0), TEMPLATES, now=clock.now)
    look = _run(analyst, state, clock, 1, clock.now())
    assert look.decision is AnalysisDecision.ROLLBACK
    verdicts = {m.name: m.verdict for m in look.record.look.metrics}
    assert verdicts == {"errors/error-rate": Verdict.FAILED}


def _gated_errors() -> dict[str, AnalysisTemplate]:
    """The shipped templates with the error rate as a gate (a guard by default)."""
    errors = TEMPLATES["errors"]
    metrics = [m.model_copy(update={"role": MetricRole.GATE}) for m in errors.spec.metrics]
    spec = errors.spec.model_copy(update={"metrics": metrics})
    return {**TEMPLATES, "errors": errors.model_copy(update={"spec": spec})}


def test_an_equal_error_rate_promotes_and_evidence_carries_to_the_next_step() -> None:
    state, clock = _rollout(), FakeClock()
    provider = CountingProvider(ratio=1.0)
    analyst = MetricsAnalyst(provider, _gated_errors(), now=clock.now)
    look = _run(analyst, state, clock, 1, clock.now())
    assert look.decision is AnalysisDecision.PROMOTE
    windows_first = sum(n for _, n in provider.requests)
    carried = look.record
    second = _run(analyst, state, clock, 3, clock.now(), analysis=carried)
    assert second.decision is AnalysisDecision.PROMOTE
    assert second.record.offset_seconds > 0
    windows_second = sum(n for _, n in provider.requests) - windows_first
    assert windows_second < windows_first  # earlier evidence counts at the next step


def test_a_new_build_starts_from_no_evidence() -> None:
    state, clock = _rollout(), FakeClock()
    analyst = MetricsAnalyst(CountingProvider(ratio=1.0), TEMPLATES, now=clock.now)
    look = _run(analyst, state, clock, 1, clock.now())
    record = look.record.model_copy(update={"build": "1/other@sha256:" + "c" * 64 + "/" + "d" * 64})
    fresh = analyst.look(
        _stored(state, step=1, started=clock.now(), analysis=record), now_s=clock.t
    )
    assert fresh is not None
    assert fresh.record.build != record.build
    assert fresh.record.offset_seconds == 0.0
    assert fresh.decision is AnalysisDecision.CONTINUE


def test_an_outage_shorter_than_the_error_limit_is_held_through() -> None:
    state, clock = _rollout(), FakeClock()
    analyst = MetricsAnalyst(FlakyProvider(1.0, down=range(2, 4)), _gated_errors(), now=clock.now)
    look = _run(analyst, state, clock, 1, clock.now())
    assert look.decision is AnalysisDecision.PROMOTE
    assert look.record.look.metrics[0].errored_windows == 2


def test_an_outage_past_the_error_limit_rolls_back_never_promotes() -> None:
    state, clock = _rollout(), FakeClock()
    analyst = MetricsAnalyst(FlakyProvider(1.0, down=range(2, 1000)), TEMPLATES, now=clock.now)
    look = _run(analyst, state, clock, 1, clock.now())
    assert look.decision is AnalysisDecision.ROLLBACK
    [metric] = look.record.look.metrics
    assert metric.verdict is Verdict.ERROR
    assert "connection refused" in look.reason or "errored" in metric.reason


def test_no_baseline_data_is_overdue_at_max_duration_and_decide_never_promotes() -> None:
    state = _rollout()
    raw = state.raw
    raw["spec"]["analysis"]["templates"] = [{"name": "accuracy"}]
    raw["spec"]["strategy"]["canary"]["steps"][1] = {"analyze": {"maxDuration": "5m"}}
    clock = FakeClock()
    analyst = MetricsAnalyst(SilentProvider(1.0), TEMPLATES, now=clock.now)
    started = clock.now()
    look = _run(analyst, state, clock, 1, started)
    assert look.baseline_overdue
    assert look.record.waiting_for_baseline
    assert clock.now() - started >= timedelta(minutes=5)
    assert "no baseline data within maxDuration" in look.reason
    stored = state.read()
    for policy, expected in (
        ("pause", AnalysisDecision.PAUSE),
        ("rollback", AnalysisDecision.ROLLBACK),
    ):
        raw["spec"]["analysis"]["onInconclusive"] = policy
        obs = Observation(
            rollout=state.read().rollout,
            generation=stored.generation,
            now=clock.now(),
            envs={},
            traffic=None,
            analysis=look,
        )
        resolved = current_look(obs, 1)
        assert resolved is not None
        assert resolved.decision is expected


def _with_judge(judge: dict[str, Any]) -> MemoryState:
    state = _rollout()
    state.raw["spec"]["analysis"].update(judge)
    return state


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [(3.0, AnalysisDecision.ROLLBACK), (1.0, AnalysisDecision.PROMOTE)],
    ids=["regression-rolls-back", "equal-promotes"],
)
def test_the_kayenta_judge_decides_at_its_interval_ends(
    ratio: float, expected: AnalysisDecision
) -> None:
    state = _with_judge({"judge": "kayenta", "kayenta": {"interval": "10m", "intervals": 2}})
    clock = FakeClock()
    analyst = MetricsAnalyst(CountingProvider(ratio=ratio, seed=3), TEMPLATES, now=clock.now)
    started = clock.now()
    look = _run(analyst, state, clock, 1, started)
    assert look.decision is expected
    assert look.record.judge.value == "kayenta"
    assert "interval 2/2" in look.reason or expected is AnalysisDecision.ROLLBACK
    # The schedule is the judge's: nothing is decided before the first interval ends.
    assert clock.now() - started >= timedelta(minutes=10)


@pytest.mark.parametrize(
    ("provider", "expected", "checks"),
    [
        (ScalarProvider(good=0.5, bad_after=2), AnalysisDecision.ROLLBACK, 4),
        (ScalarProvider(good=0.5), AnalysisDecision.PROMOTE, 5),
    ],
    ids=["over-the-range-rolls-back", "within-the-range-promotes"],
)
def test_the_threshold_judge_counts_checks_at_its_own_interval(
    provider: ScalarProvider, expected: AnalysisDecision, checks: int
) -> None:
    state = _with_judge(
        {
            "templates": [{"name": "gpu-health"}],
            "judge": "threshold",
            "threshold": {"interval": "1m", "failureLimit": 2, "checks": 5},
        }
    )
    clock = FakeClock()
    analyst = MetricsAnalyst(provider, threshold_templates(), now=clock.now)
    look = _run(analyst, state, clock, 1, clock.now())
    assert look.decision is expected
    assert provider.windows == checks  # one check per 1m window, not per 30s interval


def test_a_judge_that_cannot_judge_a_metric_is_refused_naming_the_field() -> None:
    state = _with_judge({"judge": "threshold"})  # the errors template has no threshold metric
    clock = FakeClock()
    analyst = MetricsAnalyst(CountingProvider(ratio=1.0), TEMPLATES, now=clock.now)
    with pytest.raises(SpecError) as caught:
        analyst.look(_stored(state, step=1, started=clock.now()), now_s=clock.t)
    assert caught.value.path == "spec.analysis.judge"
    assert "errors/error-rate is 'errors'" in str(caught.value)


@pytest.mark.parametrize(
    ("split", "mismatch"),
    [(1.0, False), (0.5, True), (1.6, True)],
    ids=["as-weighted", "canary-starved", "canary-flooded"],
)
def test_the_traffic_split_is_checked_for_sample_ratio_mismatch(
    split: float, mismatch: bool
) -> None:
    state, clock = _rollout(), FakeClock()
    analyst = MetricsAnalyst(CountingProvider(ratio=1.0, split=split), TEMPLATES, now=clock.now)
    stored = _stored(state, step=1, started=clock.now())
    for _ in range(20):
        clock.sleep(30)
        look = analyst.look(stored, now_s=clock.t)
        assert look is not None
        stored = state.write_status(
            stored, stored.status.model_copy(update={"analysis": look.record})
        )
    checked = stored.status.analysis.sample_ratio
    assert checked is not None
    assert checked.metric == "errors/error-rate"
    assert checked.expected_share == pytest.approx(0.2)
    assert checked.mismatch is mismatch
    share = checked.canary_requests / (checked.canary_requests + checked.baseline_requests)
    assert share == pytest.approx(0.2 * split, rel=0.1)
    report = collect_rollout(
        None,
        rollout=stored.rollout,
        status=stored.status,
        generation=stored.generation,
        now=clock.now(),
    )
    found = [f for f in report.findings if f.kind is FindingKind.SAMPLE_RATIO_MISMATCH]
    assert bool(found) is mismatch


def test_between_windows_the_reason_is_the_last_look_not_the_first_window() -> None:
    state, clock = _rollout(), FakeClock()
    analyst = MetricsAnalyst(CountingProvider(ratio=1.0), TEMPLATES, now=clock.now)
    stored = _stored(state, step=1, started=clock.now())
    reasons = []
    for _ in range(12):
        clock.sleep(5)  # shorter than a window: most passes see no new one
        look = analyst.look(stored, now_s=clock.t)
        assert look is not None
        reasons.append(look.reason)
        stored = state.write_status(
            stored, stored.status.model_copy(update={"analysis": look.record})
        )
    first_look = next(i for i, r in enumerate(reasons) if r != "waiting for the first window")
    assert reasons[:first_look] == ["waiting for the first window"] * first_look
    waiting = [r for r in reasons[first_look:] if "next look when" in r]
    assert waiting, reasons
    assert "waiting for the first window" not in reasons[first_look:]
