"""A judge's look as the typed record that status, reports and ``analyze`` carry.

Part of ``binding``: the analysis layer's ``Look`` (plain dataclasses, no pydantic) becomes
the ``spec`` layer's ``LookRecord``, the one schema every reader of an analysis uses; the
sample-ratio check (``analysis.integrity``) is folded into its typed ``SampleRatioRecord``.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlrollout.analysis import Look, SampleRatioCheck
from mlrollout.analysis.observations import EventCounts, Window
from mlrollout.spec.analysis import LookRecord, MetricVerdictRecord, SampleRatioRecord

__all__ = ["compute_look_record", "fold_sample_ratio"]


def compute_look_record(look: Look) -> LookRecord:
    """The typed record of one look (infinite or undefined numbers become absent)."""
    return LookRecord(
        decision=look.decision,
        reason=look.reason,
        elapsed_seconds=look.elapsed_s,
        metrics=[MetricVerdictRecord.model_validate(m.to_dict()) for m in look.metrics],
    )


def fold_sample_ratio(
    previous: SampleRatioRecord | None, metric: str, windows: Sequence[Window]
) -> SampleRatioRecord:
    """The sample-ratio record with ``windows`` (one errors metric's) folded in.

    Windows without request counts of both variants or without a router share strictly
    between 0 and 1 carry no information about the split and are skipped.
    """
    check = SampleRatioCheck()
    record = previous if previous is not None and previous.metric == metric else None
    if record is not None and record.state is not None:
        check.load(dict(record.state))
    canary = record.canary_requests if record else 0.0
    baseline = record.baseline_requests if record else 0.0
    weighted = (record.expected_share or 0.0) * (canary + baseline) if record else 0.0
    for window in windows:
        share = window.canary_weight
        c, b = window.canary, window.baseline
        if not window.usable or share is None or not 0.0 < share < 1.0:
            continue
        if not isinstance(c, EventCounts) or not isinstance(b, EventCounts):
            continue
        check.update(canary_requests=c.exposure, baseline_requests=b.exposure, weight=share)
        canary, baseline = canary + c.exposure, baseline + b.exposure
        weighted += share * (c.exposure + b.exposure)
    total = canary + baseline
    return SampleRatioRecord(
        metric=metric,
        canary_requests=canary,
        baseline_requests=baseline,
        expected_share=weighted / total if total > 0 else None,
        e_value=min(check.e_value, 1e300),
        mismatch=check.mismatch,
        state=check.to_dict(),
    )
