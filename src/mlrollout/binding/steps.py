"""Which steps of a strategy analyse, for how long, and whether the policy's judge fits them.

Part of ``binding``. ``compute_step_limits`` gives one step's (min, max) analysis duration,
the step's own settings over the policy's (``compute_soak``: without a minDuration anywhere
the sequential judge soaks min(15 min, half the step's maxDuration) before promoting);
``check_rollout`` binds a rollout to its templates and refuses, naming the field, what
its judge could not judge — ``lint`` runs it, and so does every analysis before it
measures anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from mlrollout.binding.judges import check_judge
from mlrollout.binding.metrics import bind_metrics
from mlrollout.spec import AnalysisTemplate, ModelRollout
from mlrollout.spec.policy import AnalysisPolicy, JudgeKind

__all__ = ["DEFAULT_SOAK", "check_rollout", "compute_soak", "compute_step_limits"]

DEFAULT_SOAK = timedelta(minutes=15)
"""The sequential judge's soak when no minDuration is set (at most half the step)."""


def compute_soak(
    policy: AnalysisPolicy, step_min: timedelta | None, max_duration: timedelta
) -> timedelta:
    """The soak of one analysis step: no promotion before it (never beyond maxDuration).

    The step's minDuration, else the policy's when it sets one, else — for the sequential
    judge, whose change detector needs time at the step's weight to see a regression that
    starts late — min(``DEFAULT_SOAK``, maxDuration / 2); the compatible judges keep 0.
    """
    if step_min is not None:
        soak = step_min
    elif "min_duration" in policy.model_fields_set or policy.judge is not JudgeKind.SEQUENTIAL:
        soak = policy.min_duration
    else:
        soak = min(DEFAULT_SOAK, max_duration / 2)
    return min(soak, max_duration)


def compute_step_limits(rollout: ModelRollout, step: int) -> tuple[timedelta, timedelta] | None:
    """(min, max) duration of the analysis at ``step``; None when it is not an analysis."""
    policy = rollout.spec.analysis
    if policy is None:
        return None
    strategy = rollout.spec.strategy
    if strategy.canary is not None:
        steps = strategy.canary.steps
        analyze = steps[step].analyze if step < len(steps) else None
        if analyze is None:
            return None
        longest = analyze.max_duration or policy.max_duration
        return compute_soak(policy, analyze.min_duration, longest), longest
    blue_green = strategy.blue_green
    if blue_green is None:
        return None
    phase = blue_green.pre_promotion_analysis if step == 0 else blue_green.post_promotion_analysis
    if phase is None:
        return None
    longest = phase.max_duration or policy.max_duration
    return compute_soak(policy, phase.min_duration, longest), longest


def _analysis_steps(rollout: ModelRollout) -> list[tuple[str, int]]:
    """(field path, step index) of every analysis step."""
    strategy = rollout.spec.strategy
    if strategy.canary is not None:
        base = "spec.strategy.canary.steps"
        return [
            (f"{base}[{i}].analyze.maxDuration", i)
            for i, step in enumerate(strategy.canary.steps)
            if step.analyze is not None
        ]
    base = "spec.strategy.blueGreen"
    return [
        (f"{base}.prePromotionAnalysis.maxDuration", 0),
        (f"{base}.postPromotionAnalysis.maxDuration", 1),
    ]


def check_rollout(rollout: ModelRollout, templates: Mapping[str, AnalysisTemplate]) -> None:
    """Refuse a rollout whose judge cannot judge its metrics or fit its analysis steps."""
    policy = rollout.spec.analysis
    if policy is None:
        return
    limits = []
    for path, step in _analysis_steps(rollout):
        step_limits = compute_step_limits(rollout, step)
        if step_limits is not None:
            limits.append((path, step_limits[1]))
    check_judge(policy, bind_metrics(rollout, templates), max_durations=limits)
