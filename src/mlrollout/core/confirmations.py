"""Gating webhooks: which confirmations a rollout needs now, and whether it has them.

Part of the pure ``core``. ``compute_due`` names the confirmations the next
move needs (before any traffic: confirm-rollout and pre-rollout; before a weight increase:
confirm-traffic-increase; before promotion: confirm-promotion), only for webhook types the
rollout configures. The loop calls those webhooks and puts their answers in the observation;
``awaiting`` tells ``decide`` to hold until every one answered 2xx. A webhook that cannot be
reached is not a confirmation.
"""

from __future__ import annotations

from collections.abc import Collection

from mlrollout.core.observation import Observation
from mlrollout.spec import ModelRollout, RolloutStatus
from mlrollout.spec.policy import WebhookType
from mlrollout.spec.status import Intent, Phase

__all__ = ["awaiting", "compute_due"]


def _configured(rollout: ModelRollout) -> set[WebhookType]:
    return {hook.type for hook in rollout.spec.webhooks}


def compute_due(
    rollout: ModelRollout,
    status: RolloutStatus,
    intents: Collection[Intent] = (),
    *,
    skip_analysis: bool = False,
) -> tuple[WebhookType, ...]:
    """The gating webhook types the rollout's next move needs answered (a pending
    ``promote --full``, a blue-green ``promote`` or an ``undo --skip-analysis``, which
    promotes straight from Deploying, is a promotion too)."""
    configured = _configured(rollout)
    if not configured:
        return ()
    due: tuple[WebhookType, ...] = ()
    if status.phase is Phase.DEPLOYING:
        due = (WebhookType.CONFIRM_ROLLOUT, WebhookType.PRE_ROLLOUT)
        if skip_analysis:
            due = (*due, WebhookType.CONFIRM_PROMOTION)
    elif status.phase is Phase.PROGRESSING:
        due = _progressing(rollout, status)
    if status.phase in (Phase.PROGRESSING, Phase.PAUSED) and _promotion_asked(rollout, intents):
        due = (*due, WebhookType.CONFIRM_PROMOTION)
    return tuple(dict.fromkeys(t for t in due if t in configured))


def _promotion_asked(rollout: ModelRollout, intents: Collection[Intent]) -> bool:
    if Intent.PROMOTE_FULL in intents:
        return True
    return rollout.spec.strategy.canary is None and Intent.PROMOTE in intents


def _progressing(rollout: ModelRollout, status: RolloutStatus) -> tuple[WebhookType, ...]:
    step = status.current_step or 0
    canary = rollout.spec.strategy.canary
    if canary is None:
        return (WebhookType.CONFIRM_PROMOTION,) if step == 0 else ()
    if step >= len(canary.steps):
        return (WebhookType.CONFIRM_PROMOTION,)
    weight = canary.steps[step].weight_bp
    applied = status.traffic.applied
    current = applied.canary_bp if applied is not None else 0
    if weight is not None and weight > current:
        return (WebhookType.CONFIRM_TRAFFIC_INCREASE,)
    return ()


def awaiting(obs: Observation, *types: WebhookType) -> str | None:
    """Why the move must wait (a webhook not asked yet, refused or unreachable), or None."""
    configured = _configured(obs.rollout)
    for kind in types:
        if kind not in configured:
            continue
        answer = obs.confirmations.get(kind.value)
        if answer is None:
            return f"waiting for the {kind.value} webhook"
        ok, message = answer
        if not ok:
            return f"{kind.value} webhook did not confirm: {message}"
    return None
