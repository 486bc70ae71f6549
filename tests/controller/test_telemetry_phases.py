"""The rollouts-by-phase gauge follows rollouts out of a phase: a phase nobody is in any
more reads 0, not the last count it had."""

from __future__ import annotations

import copy
from typing import Any

from mlrollout.controller.telemetry import Telemetry
from mlrollout.kube.rollouts import parse_stored
from support.cluster import rollout_from


def _stored(name: str, phase: str) -> Any:
    raw: dict[str, Any] = copy.deepcopy(rollout_from("canary.yaml"))
    raw["metadata"].update(name=name, generation=1, resourceVersion="1", uid=name)
    raw["status"] = {"phase": phase}
    return parse_stored(raw)


def _gauge(telemetry: Telemetry) -> dict[str, float]:
    return {
        sample.labels["phase"]: sample.value
        for metric in telemetry.rollouts.collect()
        for sample in metric.samples
    }


def test_phase_counts_drop_to_zero_when_rollouts_move_on_or_go() -> None:
    telemetry = Telemetry()
    telemetry.record(_stored("a", "Verifying"))
    telemetry.record(_stored("b", "Verifying"))
    assert _gauge(telemetry) == {"Verifying": 2}
    telemetry.record(_stored("a", "Progressing"))
    telemetry.record(_stored("b", "Succeeded"))
    assert _gauge(telemetry) == {"Verifying": 0, "Progressing": 1, "Succeeded": 1}
    telemetry.forget("ml-prod", "a")
    assert _gauge(telemetry) == {"Verifying": 0, "Progressing": 0, "Succeeded": 1}


def _samples(telemetry: Telemetry, name: str) -> dict[tuple[str, ...], float]:
    for metric in telemetry.registry.collect():
        if metric.name == name:
            return {
                (sample.name, *sorted(sample.labels.items())): sample.value  # type: ignore[arg-type]
                for sample in metric.samples
            }
    raise AssertionError(f"no metric {name}")


def test_a_pass_is_counted_by_phase_with_its_api_wait_and_its_own_time() -> None:
    telemetry = Telemetry()
    telemetry.observe_pass("Verifying", 1.5, api_wait=1.2)
    telemetry.observe_pass("Progressing", 0.2, api_wait=0.15)
    total = _samples(telemetry, "mlrollout_reconcile_duration_seconds")
    assert total[("mlrollout_reconcile_duration_seconds_count",)] == 2
    by_phase = _samples(telemetry, "mlrollout_reconcile_phase_duration_seconds")
    count = "mlrollout_reconcile_phase_duration_seconds_count"
    assert by_phase[(count, ("phase", "Verifying"))] == 1
    assert by_phase[(count, ("phase", "Progressing"))] == 1
    waits = _samples(telemetry, "mlrollout_reconcile_api_wait_seconds")
    assert waits[("mlrollout_reconcile_api_wait_seconds_sum", ("phase", "Verifying"))] == 1.2
    own = _samples(telemetry, "mlrollout_reconcile_own_seconds")
    assert abs(own[("mlrollout_reconcile_own_seconds_sum",)] - 0.35) < 1e-9
    assert own[("mlrollout_reconcile_own_seconds_bucket", ("le", "0.25"))] == 1
    assert own[("mlrollout_reconcile_own_seconds_bucket", ("le", "0.5"))] == 2
