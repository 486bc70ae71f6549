"""``decide()`` as a table: one observation in, the phase and the actions out.

Each row builds a real ``Observation`` (the shipped canary example, a stored status, the
environments, traffic, gates, the judge's look, intents) and checks the ``Decision`` that
the pure core returns: no simulated world, no scenario walk (``controller_world`` is used
only to read the shipped example). The real effects that carry the actions out run over
in-memory ports in the scenario walks (``controller_world``) and on the real control plane in
the kube-backed controller tests and ``tests/controlplane``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from controller_world import rollout_from

from mlrollout.core import decide
from mlrollout.core.actions import Deploy, Emit, Notify, ScaleEnv, Shift
from mlrollout.core.decide import SETTLED_RESYNC
from mlrollout.core.decision import stamp
from mlrollout.core.observation import AnalysisLook, EnvState, Observation, VerificationOutcome
from mlrollout.model.analysis import AnalysisDecision
from mlrollout.spec import ModelRollout, load_object
from mlrollout.spec.status import Intent, Phase, TrafficSplit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RAW = rollout_from("canary.yaml")
IMAGE = RAW["spec"]["release"]["image"]
MODEL = RAW["spec"]["release"]["model"]
OLD_IMAGE = "registry.example.com/ml/fraud-scorer@sha256:" + "0" * 64
RELEASE = {"image": IMAGE, "modelUri": MODEL["uri"], "modelSha256": MODEL["sha256"]}


def _split(weight: float) -> dict[str, Any]:
    return {"stableEnv": "blue", "canaryEnv": "green", "canaryWeight": weight}


def _status(phase: str, **fields: Any) -> dict[str, Any]:
    """A stored status of a rollout of the spec's release, blue live, green the candidate."""
    return {
        "phase": phase,
        "observedGeneration": 1,
        "release": RELEASE,
        "activeEnv": "blue",
        "candidateEnv": "green",
        "phaseStartedAt": stamp(NOW - timedelta(minutes=1)),
        "message": f"stored as {phase}",
        **fields,
    }


def _env(name: str, image: str, replicas: int, *, rolled_out: bool = True) -> EnvState:
    return EnvState(
        name=name,  # type: ignore[arg-type]
        image=image,
        model_sha256=MODEL["sha256"],
        replicas=replicas,
        ready_replicas=replicas if rolled_out else 0,
        rolled_out=rolled_out,
    )


@dataclass(frozen=True)
class Row:
    status: dict[str, Any] | None
    weight: float = 0.0  # the canary weight the router observes
    green: tuple[str, int] = (OLD_IMAGE, 0)
    verification: bool | None = None  # the gates' verdict on the release, if any yet
    look: AnalysisDecision | None = None  # the judge's look at the current step
    intents: tuple[Intent, ...] = ()
    confirmed: bool | None = None  # the confirm-promotion webhook's answer, if asked
    generation: int = 1
    green_rolled_out: bool = True
    spec: dict[str, Any] = field(default_factory=dict)


def _observe(row: Row) -> Observation:
    raw = {**RAW, "spec": {**RAW["spec"], **row.spec}}
    if row.status is not None:
        raw["status"] = row.status
    rollout = load_object(raw, source="table")
    assert isinstance(rollout, ModelRollout)
    step = (row.status or {}).get("currentStep", 0)
    return Observation(
        rollout=rollout,
        generation=row.generation,
        now=NOW,
        envs={
            "blue": _env("blue", OLD_IMAGE, 4),
            "green": _env("green", *row.green, rolled_out=row.green_rolled_out),
        },
        traffic=TrafficSplit(stable_env="blue", canary_env="green", canaryWeight=row.weight),
        verification=None
        if row.verification is None
        else VerificationOutcome(
            image=IMAGE,
            passed=row.verification,
            reason_code=None if row.verification else "UNSIGNED",
            message="verified" if row.verification else "no signature",
        ),
        analysis=None
        if row.look is None
        else AnalysisLook(decision=row.look, reason="judged", step=step),
        intents=dict.fromkeys(row.intents, "2026-11-30T11:59:00.000Z"),
        confirmations={}
        if row.confirmed is None
        else {"confirm-promotion": (row.confirmed, "HTTP 200" if row.confirmed else "HTTP 403")},
    )


ANALYSING = {
    "currentStep": 1,
    "stepStartedAt": stamp(NOW - timedelta(minutes=5)),
    "traffic": {"target": _split(25), "applied": _split(25)},
}
GREEN_NEW = (IMAGE, 1)

# id: (observation, expected phase, expected action types in order)
TABLE: dict[str, tuple[Row, Phase, tuple[type, ...]]] = {
    # Verifying: the gates run as the runtime observes the release; no action asks for them.
    "new-rollout-verifies-the-release": (Row(status=None), Phase.VERIFYING, ()),
    "verifying-waits-for-the-gates": (Row(status=_status("Verifying")), Phase.VERIFYING, ()),
    "gates-pass-deploy-the-candidate": (
        Row(status=_status("Verifying"), verification=True),
        Phase.DEPLOYING,
        (Deploy,),
    ),
    "gates-refuse-nothing-deployed": (
        Row(status=_status("Verifying"), verification=False),
        Phase.REFUSED,
        (Emit, Notify),
    ),
    "candidate-ready-first-step": (
        Row(status=_status("Deploying"), green=GREEN_NEW),
        Phase.PROGRESSING,
        (Emit, Notify),
    ),
    "candidate-not-ready-keeps-deploying": (
        Row(status=_status("Deploying"), green=GREEN_NEW, green_rolled_out=False),
        Phase.DEPLOYING,
        (Deploy,),
    ),
    "candidate-not-ready-past-deadline-rolls-back": (
        Row(
            status=_status("Deploying", phaseStartedAt=stamp(NOW - timedelta(hours=2))),
            green=GREEN_NEW,
            green_rolled_out=False,
        ),
        Phase.ROLLING_BACK,
        (Shift, Emit, Notify),
    ),
    "analysis-continue-holds-the-step": (
        Row(
            status=_status("Progressing", **ANALYSING),
            weight=25,
            green=GREEN_NEW,
            look=AnalysisDecision.CONTINUE,
        ),
        Phase.PROGRESSING,
        (),
    ),
    "analysis-rollback-rolls-back-at-once": (
        Row(
            status=_status("Progressing", **ANALYSING),
            weight=25,
            green=GREEN_NEW,
            look=AnalysisDecision.ROLLBACK,
        ),
        Phase.ROLLING_BACK,
        (Shift, Emit, Notify),
    ),
    "analysis-pause-pauses": (
        Row(
            status=_status("Progressing", **ANALYSING),
            weight=25,
            green=GREEN_NEW,
            look=AnalysisDecision.PAUSE,
        ),
        Phase.PAUSED,
        (Emit, Notify),
    ),
    "abort-rolls-back-whatever-the-judge-says": (
        Row(
            status=_status("Progressing", **ANALYSING),
            weight=25,
            green=GREEN_NEW,
            look=AnalysisDecision.PROMOTE,
            intents=(Intent.ABORT,),
        ),
        Phase.ROLLING_BACK,
        (Shift, Emit, Notify),
    ),
    "promote-full-waits-for-the-confirm-promotion-webhook": (
        Row(
            status=_status("Paused", **ANALYSING),
            weight=25,
            green=GREEN_NEW,
            intents=(Intent.PROMOTE_FULL,),
        ),
        Phase.PAUSED,
        (),
    ),
    "promote-full-confirmed-goes-to-all-traffic": (
        Row(
            status=_status("Paused", **ANALYSING),
            weight=25,
            green=GREEN_NEW,
            intents=(Intent.PROMOTE_FULL,),
            confirmed=True,
        ),
        Phase.PROMOTING,
        (Shift,),
    ),
    "promote-full-refused-by-the-webhook-holds": (
        Row(
            status=_status("Paused", **ANALYSING),
            weight=25,
            green=GREEN_NEW,
            intents=(Intent.PROMOTE_FULL,),
            confirmed=False,
        ),
        Phase.PAUSED,
        (),
    ),
    "resume-returns-to-the-step": (
        Row(
            status=_status("Paused", **ANALYSING),
            weight=25,
            green=GREEN_NEW,
            intents=(Intent.RESUME,),
        ),
        Phase.PROGRESSING,
        (),
    ),
    "paused-without-intent-stays": (
        Row(status=_status("Paused", **ANALYSING), weight=25, green=GREEN_NEW),
        Phase.PAUSED,
        (),
    ),
    "spec-change-mid-rollout-returns-traffic-first": (
        Row(status=_status("Progressing", **ANALYSING), weight=25, green=GREEN_NEW, generation=2),
        Phase.ROLLING_BACK,
        (Shift, Emit, Notify),
    ),
    "rolled-back-traffic-home-scales-the-candidate-down": (
        Row(
            status=_status(
                "RollingBack",
                rollbackCause="analysis",
                traffic={"target": _split(0), "applied": _split(0)},
            ),
            green=GREEN_NEW,
        ),
        Phase.ROLLED_BACK,
        (ScaleEnv, Emit, Notify),
    ),
    "succeeded-and-a-new-release-starts-over": (
        Row(
            status=_status(
                "Succeeded",
                release={**RELEASE, "image": OLD_IMAGE},
                activeEnv="green",
                candidateEnv="blue",
            ),
        ),
        Phase.VERIFYING,
        (),
    ),
}


@pytest.mark.parametrize("case", list(TABLE), ids=list(TABLE))
def test_decide_maps_each_observation_to_its_decision(case: str) -> None:
    row, phase, kinds = TABLE[case]
    decision = decide(_observe(row))
    assert decision.status.phase is phase, decision.reason
    assert tuple(type(action) for action in decision.actions) == kinds, decision.actions
    assert decision.reason, "every decision says why"


def test_a_rollback_shift_sends_everything_to_stable() -> None:
    row, _, _ = TABLE["analysis-rollback-rolls-back-at-once"]
    [shift] = [a for a in decide(_observe(row)).actions if isinstance(a, Shift)]
    assert (shift.split.stable_env, shift.split.canary_percent) == ("blue", 0)


def test_gates_refusing_the_release_deploy_nothing_and_say_why() -> None:
    row, _, _ = TABLE["gates-refuse-nothing-deployed"]
    decision = decide(_observe(row))
    assert not any(isinstance(a, (Deploy, Shift, ScaleEnv)) for a in decision.actions)
    assert "UNSIGNED" in decision.reason


def test_a_settled_rollout_is_only_resynced() -> None:
    """Nothing to do until its spec or intents change (which the manager watches): the next
    look is a resync minutes away, not the 30 s of a rollout in progress."""
    settled = Row(status=_status("Succeeded", activeEnv="green", candidateEnv="blue"))
    decision = decide(_observe(settled))
    assert decision.status.phase is Phase.SUCCEEDED
    assert decision.actions == ()
    assert decision.requeue_after == SETTLED_RESYNC >= timedelta(minutes=5)
