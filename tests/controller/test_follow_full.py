"""``promote --full`` while the in-cluster controller drives: ``follow`` asks for the full
promotion once the rollout progresses or pauses, as the driven path does. Asked at once,
while the rollout is still pending or verifying, the controller's first pass would
acknowledge the intent and ignore it. On the real control plane."""

from __future__ import annotations

import pytest
from controller_world import rollout_from

from controlplane.fixtures import TestBed
from mlrollout.clock import SystemClock
from mlrollout.controller.driver import follow
from mlrollout.kube import Intent, RolloutStore, StoredRollout, pending_intents
from mlrollout.kube.kinds import MODELROLLOUTS
from mlrollout.spec import Phase, RolloutStatus

pytestmark = pytest.mark.controlplane


def _look_once(cp: TestBed, *, full: bool) -> list[Phase]:
    seen: list[Phase] = []
    follow(
        cp.admin,
        namespace=cp.namespace,
        name="fraud-scorer",
        clock=SystemClock(),
        timeout=None,
        on_change=lambda stored: seen.append(stored.status.phase),
        until=lambda stored: True,
        full=full,
    )
    return seen


def _progressing(stored: StoredRollout) -> RolloutStatus:
    return stored.status.model_copy(
        update={"phase": Phase.PROGRESSING, "observed_generation": stored.generation}
    )


def test_follow_asks_for_full_promotion_once_the_rollout_progresses(cp: TestBed) -> None:
    raw = rollout_from("canary.yaml")
    raw["metadata"]["namespace"] = cp.namespace
    cp.admin.create(MODELROLLOUTS, raw, cp.namespace)
    store = RolloutStore(cp.admin)
    assert _look_once(cp, full=True) == [Phase.PENDING]
    assert pending_intents(store.read(cp.namespace, "fraud-scorer")) == {}
    store.update_status(cp.namespace, "fraud-scorer", _progressing)
    assert _look_once(cp, full=False) == [Phase.PROGRESSING]
    assert pending_intents(store.read(cp.namespace, "fraud-scorer")) == {}
    assert _look_once(cp, full=True) == [Phase.PROGRESSING]
    assert list(pending_intents(store.read(cp.namespace, "fraud-scorer"))) == [Intent.PROMOTE_FULL]
