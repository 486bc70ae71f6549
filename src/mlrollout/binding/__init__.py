"""Binding: how a rollout's templates and analysis policy become judged metrics and a judge.

Between the ``spec`` (what the user wrote) and the ``analysis`` layer (pure statistics);
used by every place that judges — the controller's analyst, ``mlrollout analyze``,
``plan`` and ``simulate`` — so that all of them gate exactly the same metrics the same
way. ``metrics`` binds template references to metrics with their arguments and maps each
onto a ``JudgedMetric``; ``judges`` is the registry of judges (sequential, kayenta,
threshold) with the combinations each supports; ``steps`` fits them to a strategy's steps.
"""

from __future__ import annotations

from mlrollout.binding.judges import (
    build_judge,
    check_judge,
    compute_sequential_config,
    compute_window,
    judge_carries_evidence,
)
from mlrollout.binding.metrics import (
    BoundMetric,
    bind_arguments,
    bind_metrics,
    compute_judged_metric,
    has_gate,
)
from mlrollout.binding.steps import check_rollout, compute_soak, compute_step_limits
from mlrollout.lazy import lazy_exports

# ``records`` folds looks into typed records with numpy-based checks: loaded on first use, so
# ``lint`` (which only checks bindings) starts without numpy.
_LAZY = {
    "compute_look_record": "mlrollout.binding.records",
    "fold_sample_ratio": "mlrollout.binding.records",
}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "BoundMetric",
    "bind_arguments",
    "bind_metrics",
    "build_judge",
    "check_judge",
    "check_rollout",
    "compute_judged_metric",
    "compute_look_record",
    "compute_sequential_config",
    "compute_soak",
    "compute_step_limits",
    "compute_window",
    "fold_sample_ratio",
    "has_gate",
    "judge_carries_evidence",
]
