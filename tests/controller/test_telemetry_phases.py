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
