"""Which steps of a strategy analyse, for how long, and whether the policy's judge fits them.

Part of ``binding``. ``compute_step_limits`` gives one step's (min, max) analysis duration,
the step's own settings over the policy's; ``check_rollout`` binds a rollout to its
templates and refuses, naming the field, what its judge could not judge — ``lint`` runs
it, and so does every analysis before it measures anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from mlrollout.binding.judges import check_judge
from mlrollout.binding.metrics import bind_metrics
from mlrollout.spec import AnalysisTemplate, ModelRollout

__all__ = ["check_rollout", "compute_step_limits"]


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
        return (
            analyze.min_duration or policy.min_duration,
            analyze.max_duration or policy.max_duration,
        )
    blue_green = strategy.blue_green
    if blue_green is None:
        return None
    phase = blue_green.pre_promotion_analysis if step == 0 else blue_green.post_promotion_analysis
    if phase is None:
        return None
    return phase.min_duration or policy.min_duration, phase.max_duration or policy.max_duration


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
