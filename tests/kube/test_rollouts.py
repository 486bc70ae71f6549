"""ModelRollout state: status read-modify-write with conflicts, intents, Events.

On the real kube-apiserver, its audit log as the write history; the ones that inject faults
through the fault proxy in front of it (``tests/kube/conftest.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from controlplane.faults import FaultProxy
from controlplane.fixtures import TestBed
from mlrollout.errors import ConflictError
from mlrollout.kube import EventRecorder, Intent, KubeClient, RolloutStore, pending_intents
from mlrollout.kube.kinds import EVENTS, MODELROLLOUTS
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec import Phase, RolloutStatus
from mlrollout.spec.yamlfile import parse_yaml_documents

ROOT = Path(__file__).resolve().parents[2]


def _create(kube: KubeClient, ns: str) -> dict[str, Any]:
    [obj] = parse_yaml_documents((ROOT / "examples" / "canary.yaml").read_text(), source="c")
    obj["metadata"]["namespace"] = ns
    return kube.create(MODELROLLOUTS, obj, ns)


def _progressing(stored: StoredRollout) -> RolloutStatus:
    return stored.status.model_copy(
        update={
            "phase": Phase.PROGRESSING,
            "observed_generation": stored.generation,
            "current_step": (stored.status.current_step or 0) + 1,
        }
    )


def test_status_write_does_not_touch_spec_or_generation(kube: KubeClient, ns: str) -> None:
    _create(kube, ns)
    store = RolloutStore(kube)
    before = store.read(ns, "fraud-scorer")
    after = store.update_status(ns, "fraud-scorer", _progressing)
    assert after.status.phase is Phase.PROGRESSING
    assert after.generation == before.generation
    assert after.raw["spec"] == before.raw["spec"]


def test_injected_conflict_leads_to_reread_and_retry(
    kube: KubeClient, ns: str, faults: FaultProxy, cp: TestBed
) -> None:
    _create(kube, ns)
    faults.add(verb="PUT", path=r"/modelrollouts/fraud-scorer/status$", status=409)
    calls: list[str] = []

    def compute(stored: StoredRollout) -> RolloutStatus:
        calls.append(stored.resource_version)
        return _progressing(stored)

    result = RolloutStore(kube).update_status(ns, "fraud-scorer", compute)
    assert len(calls) == 2
    assert result.status.current_step == 1
    # The proxy answered the first write: the API server saw only the second.
    writes = cp.audit.writes(namespace=ns, resource="modelrollouts", succeeded=None)
    assert [(w.verb, w.subresource) for w in writes] == [("create", ""), ("update", "status")]


def test_concurrent_spec_edit_is_never_overwritten(kube: KubeClient, ns: str, cp: TestBed) -> None:
    _create(kube, ns)
    seen_generations: list[int] = []
    edited = False

    def compute(stored: StoredRollout) -> RolloutStatus:
        nonlocal edited
        seen_generations.append(stored.generation)
        if not edited:  # a user edits the spec between our read and our write
            edited = True
            kube.patch(MODELROLLOUTS, "fraud-scorer", ns, {"spec": {"analysis": {"alpha": 0.02}}})
        return _progressing(stored)

    result = RolloutStore(kube).update_status(ns, "fraud-scorer", compute)
    assert seen_generations == [1, 2]
    assert result.raw["spec"]["analysis"]["alpha"] == 0.02
    assert result.status.observed_generation == 2
    # The real API server's audit log: the stale status write was refused with 409, and no
    # accepted write carried the old spec.
    history = cp.audit.writes(namespace=ns, resource="modelrollouts", succeeded=None)
    assert [(r.verb, r.subresource, r.code) for r in history] == [
        ("create", "", 201),
        ("patch", "", 200),
        ("update", "status", 409),
        ("update", "status", 200),
    ]
    assert all(r.stored["spec"]["analysis"]["alpha"] == 0.02 for r in history[1:] if r.stored)


def test_conflicts_without_end_give_up(kube: KubeClient, ns: str, faults: FaultProxy) -> None:
    _create(kube, ns)
    faults.add(verb="PUT", path=r"/status$", times=None, status=409)
    store = RolloutStore(kube, max_conflicts=3)
    with pytest.raises(ConflictError, match="still conflicting after 3 attempts"):
        store.update_status(ns, "fraud-scorer", _progressing)


def test_nothing_to_write_writes_nothing(kube: KubeClient, ns: str, cp: TestBed) -> None:
    _create(kube, ns)
    RolloutStore(kube).update_status(ns, "fraud-scorer", lambda stored: None)
    writes = cp.audit.writes(namespace=ns, resource="modelrollouts", succeeded=None)
    assert [w.verb for w in writes] == ["create"]


def test_intents_are_annotations_until_acknowledged(kube: KubeClient, ns: str) -> None:
    _create(kube, ns)
    store = RolloutStore(kube)
    asked = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
    stamp = store.request(ns, "fraud-scorer", Intent.ABORT, now=asked)
    assert stamp == "2026-11-26T12:00:00.123456Z"
    stored = store.read(ns, "fraud-scorer")
    assert pending_intents(stored) == {Intent.ABORT: asked}
    assert stored.generation == 1  # metadata only: no new generation

    def acknowledge(s: StoredRollout) -> RolloutStatus:
        return s.status.model_copy(update={"acknowledged_intents": {"abort": asked}})

    acknowledged = store.update_status(ns, "fraud-scorer", acknowledge)
    assert acknowledged.raw["status"]["acknowledgedIntents"] == {"abort": stamp}
    assert pending_intents(acknowledged) == {}
    later = datetime(2026, 11, 26, 12, 5, tzinfo=UTC)
    store.request(ns, "fraud-scorer", Intent.ABORT, now=later)
    assert pending_intents(store.read(ns, "fraud-scorer")) == {Intent.ABORT: later}


def test_events_are_recorded_on_the_rollout(kube: KubeClient, ns: str) -> None:
    rollout = _create(kube, ns)
    error = EventRecorder(kube).emit(
        rollout,
        type="Warning",
        reason="RolledBack",
        message="latency-p99 regressed by 12% (CS 8%..17%)",
    )
    assert error is None
    [event] = kube.list(EVENTS, ns)
    assert event["involvedObject"]["kind"] == "ModelRollout"
    assert event["involvedObject"]["uid"] == rollout["metadata"]["uid"]
    assert (event["type"], event["reason"]) == ("Warning", "RolledBack")


def test_event_failure_is_returned_not_raised(
    kube: KubeClient, ns: str, faults: FaultProxy
) -> None:
    rollout = _create(kube, ns)
    faults.add(verb="POST", path=r"/events$", times=None, status=403)
    error = EventRecorder(kube).emit(rollout, type="Normal", reason="Progressing", message="x")
    assert error is not None
