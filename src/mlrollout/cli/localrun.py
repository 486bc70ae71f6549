"""Driving rollouts on the local platform from the command line (``demo``, ``promote``).

Part of the ``cli`` layer: applies a rollout to a ``controller.local.LocalPlatform``, warms
the stable environment up with labelled traffic (the analysis measures the baseline's
accuracy and latency tail on the traffic before the rollout), then runs the same
``loop.drive`` as on Kubernetes, showing every pass in a ``LiveView`` and growing the
run's report record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlrollout.controller.driver import full_promotion_requester
from mlrollout.controller.local import LocalPlatform
from mlrollout.controller.localchecks import check_local_rollout
from mlrollout.controller.loop import drive
from mlrollout.core.decision import Decision
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.report import ReportRecord, collect_rollout, write_record
from mlrollout.spec import AnalysisTemplate, load_object

__all__ = ["WARM_UP_S", "apply_local", "drive_local", "warm_up"]

WARM_UP_S = 5.0


def apply_local(platform: LocalPlatform, obj: dict[str, Any], *, source: str) -> StoredRollout:
    """Check what the local platform honours, then create or update the rollout."""
    rollout = load_object(obj, source=source)
    check_local_rollout(rollout, source=source)  # type: ignore[arg-type]
    return platform.apply(obj)


def warm_up(platform: LocalPlatform, stored: StoredRollout, seconds: float = WARM_UP_S) -> None:
    """Bring the environments up and send labelled traffic for ``seconds`` (stable only,
    unless a rollout is in progress)."""
    platform.bring_up(stored)
    platform.start_load()
    time.sleep(seconds)


def drive_local(
    platform: LocalPlatform,
    stored: StoredRollout,
    *,
    templates: Mapping[str, AnalysisTemplate],
    base: Path,
    timeout: timedelta,
    full: bool = False,
    on_pass: Callable[[StoredRollout], None] = lambda stored: None,
    report_dir: Path | None = None,
) -> tuple[StoredRollout, ReportRecord | None]:
    """Drive until the rollout settles or pauses; the rollout and its report record."""
    reconciler = platform.reconciler(stored, templates=templates, base=base)
    record: list[ReportRecord | None] = [None]
    request_full = full_promotion_requester(reconciler.edge.state) if full else None

    def each(current: StoredRollout, decision: Decision) -> None:
        grown = record[0] = collect_rollout(
            record[0],
            rollout=current.rollout,
            status=current.status,
            generation=current.generation,
            uid=str(current.raw["metadata"].get("uid", "")),
            now=datetime.now(UTC),
        )
        if report_dir is not None:
            write_record(report_dir, grown)
        if request_full is not None:
            request_full(current)
        on_pass(current)

    final = drive(reconciler, timeout=timeout, until=lambda s: s.status.phase.settled, on_pass=each)
    return final, record[0]
