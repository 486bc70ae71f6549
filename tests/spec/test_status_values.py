"""Status values: times are timezone-aware ``datetime`` (RFC 3339 with ``Z`` on the wire),
traffic splits are basis points (percent on the wire)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from mlrollout.kube.rollouts import StoredRollout, parse_stored, pending_intents
from mlrollout.spec import RolloutStatus
from mlrollout.spec.status import (
    TOTAL_BASIS_POINTS,
    Condition,
    HistoryEntry,
    ScaleDown,
    TrafficSplit,
    set_condition,
)
from support.cluster import rollout_from

STORED = {
    "phase": "Progressing",
    "phaseStartedAt": "2026-11-30T18:16:05.123Z",
    "stepStartedAt": "2026-11-30T18:20:00Z",  # whole seconds, as some writers stored it
    "scaleDown": {"env": "blue", "at": "2026-11-30T19:16:05.000Z"},
    "history": [{"time": "2026-11-30T18:16:05.123Z", "phase": "Progressing", "action": "start"}],
    "conditions": [
        {"type": "Reconciled", "status": "True", "lastTransitionTime": "2026-11-30T18:16:05Z"}
    ],
    "acknowledgedIntents": {"abort": "2026-11-30T18:16:05.123456Z"},
}


def test_a_stored_status_loads_with_datetimes_and_writes_back_in_the_same_form() -> None:
    status = RolloutStatus.model_validate(STORED)
    assert status.phase_started_at == datetime(2026, 11, 30, 18, 16, 5, 123000, tzinfo=UTC)
    assert status.step_started_at == datetime(2026, 11, 30, 18, 20, tzinfo=UTC)
    assert status.acknowledged_intents["abort"].microsecond == 123456
    wire = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert wire["phaseStartedAt"] == "2026-11-30T18:16:05.123Z"
    assert wire["history"][0]["time"] == "2026-11-30T18:16:05.123Z"
    assert wire["scaleDown"]["at"] == "2026-11-30T19:16:05.000Z"
    assert wire["acknowledgedIntents"] == {"abort": "2026-11-30T18:16:05.123456Z"}
    # whole-second times are written with milliseconds, the status's one form
    assert wire["stepStartedAt"] == "2026-11-30T18:20:00.000Z"
    assert wire["conditions"][0]["lastTransitionTime"] == "2026-11-30T18:16:05.000Z"
    assert RolloutStatus.model_validate(wire) == status


def test_times_are_held_in_utc_to_the_millisecond() -> None:
    east = timezone(timedelta(hours=2))
    entry = HistoryEntry(
        time=datetime(2026, 11, 30, 20, 16, 5, 123999, tzinfo=east), phase="Paused", action="x"
    )
    assert entry.time == datetime(2026, 11, 30, 18, 16, 5, 123000, tzinfo=UTC)
    assert entry.time.tzinfo is UTC
    assert entry.model_dump(mode="json")["time"] == "2026-11-30T18:16:05.123Z"


@pytest.mark.parametrize(
    "value", ["2026-11-30T18:16:05", "yesterday", "2026-13-01T00:00:00Z"], ids=str
)
def test_a_time_without_a_zone_or_not_a_time_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="at"):
        ScaleDown.model_validate({"env": "blue", "at": value})


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    first = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    later = first + timedelta(minutes=5)
    conditions = set_condition(
        [], type="Ready", status="True", reason="R", message="", now=first, generation=1
    )
    same = set_condition(
        conditions, type="Ready", status="True", reason="R", message="", now=later, generation=1
    )
    moved = set_condition(
        same, type="Ready", status="False", reason="R", message="", now=later, generation=1
    )
    assert [c.last_transition_time for c in (*same, *moved)] == [first, later]
    assert isinstance(same[0], Condition)


def _stored(annotation: str, acknowledged: str | None) -> StoredRollout:
    raw = rollout_from("gateway-canary.yaml")
    raw["metadata"]["annotations"] = {"mlrollout.io/intent.abort": annotation}
    if acknowledged is not None:
        raw["status"] = {"acknowledgedIntents": {"abort": acknowledged}}
    return parse_stored(raw)


def test_an_intent_is_pending_until_its_exact_time_is_acknowledged() -> None:
    asked = "2026-11-30T18:16:05.123456Z"
    at = datetime(2026, 11, 30, 18, 16, 5, 123456, tzinfo=UTC)
    assert [*pending_intents(_stored(asked, None)).values()] == [at]
    assert pending_intents(_stored(asked, asked)) == {}
    assert [*pending_intents(_stored(asked, "2026-11-30T18:16:05.123Z")).values()] == [at]


def test_an_annotation_that_is_not_a_time_is_not_an_intent() -> None:
    assert pending_intents(_stored("please", None)) == {}


@pytest.mark.parametrize(
    ("stored", "bp", "wire"),
    [(5, 500, 5.0), (33.333, 3333, 33.33), (0.01, 1, 0.01), (100, 10_000, 100.0), (0, 0, 0.0)],
)
def test_a_split_is_held_in_basis_points_and_written_in_percent(
    stored: float, bp: int, wire: float
) -> None:
    split = TrafficSplit.model_validate(
        {"stableEnv": "blue", "canaryEnv": "green", "canaryWeight": stored}
    )
    assert (split.canary_bp, split.stable_bp) == (bp, TOTAL_BASIS_POINTS - bp)
    assert split.model_dump(mode="json", by_alias=True)["canaryWeight"] == wire
    assert TrafficSplit.model_validate(split.model_dump(mode="json", by_alias=True)) == split
    assert TrafficSplit.model_validate(split.model_dump()) == split  # by name: basis points


@pytest.mark.parametrize("value", [-1, 100.5, float("nan"), float("inf"), "50", True])
def test_a_split_that_is_not_a_percentage_is_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="canaryWeight must be a percentage"):
        TrafficSplit.model_validate(
            {"stableEnv": "blue", "canaryEnv": "green", "canaryWeight": value}
        )
