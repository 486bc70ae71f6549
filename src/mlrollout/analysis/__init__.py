"""Analysis layer: pure statistics deciding rollback / promote / continue for a canary.

Imports only the standard library, numpy, scipy, ``mlrollout.errors`` and
``mlrollout.model``; no I/O, clock or logging, and randomness only from a passed
``numpy.random.Generator``. Pipeline: ``observations`` (windows from providers) →
``evidence`` (per-kind e-processes built on ``eprocess``, ``confseq``, ``gaussian``) →
judges (``sequential`` by default, ``kayenta``, ``flagger``; the ``judge`` port) →
``verdicts``. Around them: ``integrity`` (SRM, pod effects), ``buckets``, ``planning``. The
benchmark that measures the judges lives beside this package, in ``mlrollout.bench``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlrollout.lazy import lazy_exports

if TYPE_CHECKING:
    from mlrollout.analysis.buckets import assess_bucket_resolution, compute_tail_thresholds
    from mlrollout.analysis.config import JudgedMetric, SequentialConfig, compute_reference_ratios
    from mlrollout.analysis.flagger import FlaggerConfig, FlaggerJudge, ThresholdCheck
    from mlrollout.analysis.integrity import SampleRatioCheck, compute_pod_margin_floor
    from mlrollout.analysis.kayenta import KayentaConfig, KayentaJudge, KayentaMetric
    from mlrollout.analysis.kinds import AnalysisDecision, InconclusivePolicy, MetricKind, Verdict
    from mlrollout.analysis.mannwhitney import MannWhitneyResult, compute_mann_whitney
    from mlrollout.analysis.observations import (
        EventCounts,
        Histogram,
        ScalarValue,
        Window,
        WindowStatus,
        compute_counter_increase,
    )
    from mlrollout.analysis.planning import MetricPlan, Plan, TrafficProfile, compute_plan
    from mlrollout.analysis.sequential import SequentialJudge
    from mlrollout.analysis.verdicts import Look, MetricVerdict

# Each public name and the module defining it: a name's module (and so numpy or scipy) is
# imported on first use, so that importing one judge does not import the benchmark.
_LAZY: dict[str, str] = {
    "AnalysisDecision": "mlrollout.analysis.kinds",
    "EventCounts": "mlrollout.analysis.observations",
    "FlaggerConfig": "mlrollout.analysis.flagger",
    "FlaggerJudge": "mlrollout.analysis.flagger",
    "Histogram": "mlrollout.analysis.observations",
    "InconclusivePolicy": "mlrollout.analysis.kinds",
    "JudgedMetric": "mlrollout.analysis.config",
    "KayentaConfig": "mlrollout.analysis.kayenta",
    "KayentaJudge": "mlrollout.analysis.kayenta",
    "KayentaMetric": "mlrollout.analysis.kayenta",
    "Look": "mlrollout.analysis.verdicts",
    "MannWhitneyResult": "mlrollout.analysis.mannwhitney",
    "MetricKind": "mlrollout.analysis.kinds",
    "MetricPlan": "mlrollout.analysis.planning",
    "MetricVerdict": "mlrollout.analysis.verdicts",
    "Plan": "mlrollout.analysis.planning",
    "SampleRatioCheck": "mlrollout.analysis.integrity",
    "ScalarValue": "mlrollout.analysis.observations",
    "SequentialConfig": "mlrollout.analysis.config",
    "SequentialJudge": "mlrollout.analysis.sequential",
    "ThresholdCheck": "mlrollout.analysis.flagger",
    "TrafficProfile": "mlrollout.analysis.planning",
    "Verdict": "mlrollout.analysis.kinds",
    "Window": "mlrollout.analysis.observations",
    "WindowStatus": "mlrollout.analysis.observations",
    "assess_bucket_resolution": "mlrollout.analysis.buckets",
    "compute_counter_increase": "mlrollout.analysis.observations",
    "compute_mann_whitney": "mlrollout.analysis.mannwhitney",
    "compute_plan": "mlrollout.analysis.planning",
    "compute_pod_margin_floor": "mlrollout.analysis.integrity",
    "compute_reference_ratios": "mlrollout.analysis.config",
    "compute_tail_thresholds": "mlrollout.analysis.buckets",
}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "AnalysisDecision",
    "EventCounts",
    "FlaggerConfig",
    "FlaggerJudge",
    "Histogram",
    "InconclusivePolicy",
    "JudgedMetric",
    "KayentaConfig",
    "KayentaJudge",
    "KayentaMetric",
    "Look",
    "MannWhitneyResult",
    "MetricKind",
    "MetricPlan",
    "MetricVerdict",
    "Plan",
    "SampleRatioCheck",
    "ScalarValue",
    "SequentialConfig",
    "SequentialJudge",
    "ThresholdCheck",
    "TrafficProfile",
    "Verdict",
    "Window",
    "WindowStatus",
    "assess_bucket_resolution",
    "compute_counter_increase",
    "compute_mann_whitney",
    "compute_plan",
    "compute_pod_margin_floor",
    "compute_reference_ratios",
    "compute_tail_thresholds",
]
