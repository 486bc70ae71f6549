"""A judge's look as the typed record that status, reports and ``analyze`` carry.

Part of ``binding``: the analysis layer's ``Look`` (plain dataclasses, no pydantic) becomes
the ``spec`` layer's ``LookRecord``, the one schema every reader of an analysis uses.
"""

from __future__ import annotations

from mlrollout.analysis import Look
from mlrollout.spec.analysis import LookRecord, MetricVerdictRecord

__all__ = ["compute_look_record"]


def compute_look_record(look: Look) -> LookRecord:
    """The typed record of one look (infinite or undefined numbers become absent)."""
    return LookRecord(
        decision=look.decision,
        reason=look.reason,
        elapsed_seconds=look.elapsed_s,
        metrics=[MetricVerdictRecord.model_validate(m.to_dict()) for m in look.metrics],
    )
