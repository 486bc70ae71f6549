"""The analyst: spec metrics onto the judge, windows fetched on shared boundaries, evidence
persisted in the status and carried across steps of one build only."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from controller_world import rollout_from
from loop_fakes import FakeClock, MemoryState

from mlrollout.analysis.observations import EventCounts, Window
from mlrollout.controller.analyst import MetricsAnalyst, bind_metrics
from mlrollout.core.decision import stamp
from mlrollout.errors import ProviderUnavailableError
from mlrollout.metrics.provider import MetricRequest
from mlrollout.spec import RolloutStatus, load_paths
from mlrollout.spec.status import Phase, StatusRelease, TrafficSplit

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = load_paths(sorted((ROOT / "analyses").glob("*.yaml"))).templates


class CountingProvider:
    """Error counts per window: baseline 1% errors, canary ``1% x ratio``, 50 req/s."""

    def __init__(self, ratio: float, *, seed: int = 7) -> None:
        self.ratio = ratio
        self.rng = np.random.default_rng(seed)
        self.requests: list[tuple[str, int]] = []

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        self.requests.append((request.metric.name, len(boundaries) - 1))
        weight = request.canary_weight or 0.05
        out = []
        for start, end in itertools.pairwise(boundaries):
            seconds = (end - start).total_seconds()
            n_canary = self.rng.poisson(50 * seconds * weight)
            n_base = self.rng.poisson(50 * seconds * (1 - weight))
            canary = EventCounts(
                float(self.rng.binomial(n_canary, 0.01 * self.ratio)), float(n_canary)
            )
            base = EventCounts(float(self.rng.binomial(n_base, 0.01)), float(n_base))
            out.append(
                Window(duration_s=seconds, canary=canary, baseline=base, canary_weight=weight)
            )
        return out

    def close(self) -> None:
        pass


def _stored(
    state: MemoryState, *, step: int, started: datetime, analysis: dict[str, Any] | None = None
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
        traffic={"applied": TrafficSplit(stable_env="blue", canary_env="green", canary_weight=20)},
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
    analysis: dict[str, Any] | None = None,
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
        if look.decision != "continue":
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
    assert look.decision == "rollback"
    verdicts = {m["name"]: m["verdict"] for m in look.record["look"]["metrics"]}
    assert verdicts == {"errors/error-rate": "Failed"}


def test_an_equal_error_rate_promotes_and_evidence_carries_to_the_next_step() -> None:
    state, clock = _rollout(), FakeClock()
    provider = CountingProvider(ratio=1.0)
    analyst = MetricsAnalyst(provider, TEMPLATES, now=clock.now)
    look = _run(analyst, state, clock, 1, clock.now())
    assert look.decision == "promote"
    windows_first = sum(n for _, n in provider.requests)
    carried = look.record
    second = _run(analyst, state, clock, 3, clock.now(), analysis=carried)
    assert second.decision == "promote"
    assert second.record["offset_s"] > 0
    windows_second = sum(n for _, n in provider.requests) - windows_first
    assert windows_second < windows_first  # earlier evidence counts at the next step


def test_a_new_build_starts_from_no_evidence() -> None:
    state, clock = _rollout(), FakeClock()
    analyst = MetricsAnalyst(CountingProvider(ratio=1.0), TEMPLATES, now=clock.now)
    look = _run(analyst, state, clock, 1, clock.now())
    record = dict(look.record, build="1/other@sha256:" + "c" * 64 + "/" + "d" * 64)
    fresh = analyst.look(
        _stored(state, step=1, started=clock.now(), analysis=record), now_s=clock.t
    )
    assert fresh is not None
    assert fresh.record["build"] != record["build"]
    assert fresh.record["offset_s"] == 0.0
    assert fresh.decision == "continue"


class FlakyProvider(CountingProvider):
    """Answers like ``CountingProvider`` except while ``down`` says the backend is out."""

    def __init__(self, ratio: float, down: range) -> None:
        super().__init__(ratio)
        self.down = down
        self.calls = 0

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        self.calls += 1
        if self.calls in self.down:
            raise ProviderUnavailableError("prometheus: connection refused")
        return super().fetch_windows(request, boundaries=boundaries)


def test_an_outage_shorter_than_the_error_limit_is_held_through() -> None:
    state, clock = _rollout(), FakeClock()
    analyst = MetricsAnalyst(FlakyProvider(1.0, down=range(2, 4)), TEMPLATES, now=clock.now)
    look = _run(analyst, state, clock, 1, clock.now())
    assert look.decision == "promote"
    metrics = look.record["look"]["metrics"]
    assert metrics[0]["errored_windows"] == 2


def test_an_outage_past_the_error_limit_rolls_back_never_promotes() -> None:
    state, clock = _rollout(), FakeClock()
    analyst = MetricsAnalyst(FlakyProvider(1.0, down=range(2, 1000)), TEMPLATES, now=clock.now)
    look = _run(analyst, state, clock, 1, clock.now())
    assert look.decision == "rollback"
    [metric] = look.record["look"]["metrics"]
    assert metric["verdict"] == "Error"
    assert "connection refused" in look.reason or "errored" in metric["reason"]


class SilentProvider(CountingProvider):
    """A provider that is down for good."""

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        raise ProviderUnavailableError("prometheus: connection refused")


def test_no_baseline_data_pauses_at_max_duration_and_never_promotes() -> None:
    state = _rollout()
    raw = state.raw
    raw["spec"]["analysis"]["templates"] = [{"name": "accuracy"}]
    raw["spec"]["strategy"]["canary"]["steps"][1] = {"analyze": {"maxDuration": "5m"}}
    clock = FakeClock()
    analyst = MetricsAnalyst(SilentProvider(1.0), TEMPLATES, now=clock.now)
    look = _run(analyst, state, clock, 1, clock.now())
    assert look.decision == "pause"
    assert "no baseline data within maxDuration" in look.reason
