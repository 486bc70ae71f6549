"""The benchmark's judged metrics, bound from analysis templates exactly as the controller binds.

Part of the ``cli`` layer, between ``mlrollout.binding`` (templates → judged metrics → judge
config, the one binding of the controller, ``analyze`` and ``plan``) and the pure
``mlrollout.bench`` package, which may not import the spec or the binding. ``simulate``
loads the shipped templates (``analyses/*.yaml``, or ``--templates``), the simulator's
pre-rollout data stand in for what the analyst measures on the stable environment, and
``compute_setup`` hands the bound metrics and configuration to the benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from mlrollout.analysis import JudgedMetric
from mlrollout.bench.benchmark import BenchmarkSetup
from mlrollout.bench.comparison import compute_pre_rollout
from mlrollout.bench.scenarios import Margins
from mlrollout.bench.simulator import SimSettings
from mlrollout.binding import (
    BoundMetric,
    bind_arguments,
    compute_judged_metric,
    compute_sequential_config,
    compute_soak,
)
from mlrollout.binding.baselines import compute_baseline_record
from mlrollout.cli.lint import template_files
from mlrollout.errors import SpecError
from mlrollout.model.analysis import MetricKind
from mlrollout.spec import AnalysisTemplate, load_paths
from mlrollout.spec.policy import AnalysisPolicy, TemplateRef
from mlrollout.spec.template import Margin

__all__ = ["MarginOverrides", "compute_setup", "load_templates"]

_SOURCE_ANALYSES = Path(__file__).resolve().parents[3] / "analyses"


@dataclass(frozen=True)
class MarginOverrides:
    """``--margin-*`` values replacing the templates' margins of a kind (None: keep)."""

    latency: float | None = None
    errors: float | None = None
    accuracy_points: float | None = None
    anomalies: float | None = None

    def margin_for(self, kind: MetricKind) -> Margin | None:
        """The replacement margin for metrics of ``kind``, if any."""
        relative = {
            MetricKind.LATENCY_BODY: self.latency,
            MetricKind.LATENCY_TAIL: self.latency,
            MetricKind.ERRORS: self.errors,
            MetricKind.ANOMALIES: self.anomalies,
        }
        if kind is MetricKind.ACCURACY and self.accuracy_points is not None:
            return Margin(points=self.accuracy_points)
        value = relative.get(kind)
        return None if value is None else Margin(relative=value)


def load_templates(directories: Sequence[Path]) -> list[AnalysisTemplate]:
    """Templates from ``directories``; default ``./analyses`` or the source checkout's."""
    dirs = list(directories)
    if not dirs:
        for candidate in (Path("analyses"), _SOURCE_ANALYSES):
            if candidate.is_dir():
                dirs = [candidate]
                break
        else:
            raise SpecError(
                "no analyses/ directory here; pass --templates DIR (the shipped templates "
                "are in the repository's analyses/)",
                path="--templates",
            )
    result = load_paths(template_files(dirs))
    if result.errors:
        raise result.errors[0]
    templates = list(result.templates.values())
    if not templates:
        raise SpecError("no AnalysisTemplate found", path="--templates")
    return templates


def _override(bound: BoundMetric, overrides: MarginOverrides) -> BoundMetric:
    margin = overrides.margin_for(bound.metric.kind)
    if margin is None:
        return bound
    metric = bound.metric.model_copy(update={"margin": margin, "promote_margin": None})
    return BoundMetric(bound.template, metric, bound.args)


def compute_judged_metrics(
    templates: Sequence[AnalysisTemplate],
    settings: SimSettings,
    *,
    overrides: MarginOverrides,
) -> list[JudgedMetric]:
    """Every template metric judged through ``binding`` with the simulated baselines."""
    pre_rollout = compute_pre_rollout(settings)
    judged = []
    for bound in bind_arguments(templates, {}, path="--templates"):
        b = _override(bound, overrides)
        kind = b.metric.kind
        measurement = pre_rollout.get(kind)
        record = compute_baseline_record(kind, measurement, quantile=b.metric.quantile or 0.99)
        if record is None:
            raise SpecError(f"{b.key}: no simulated pre-rollout data", path="--templates")
        judged.append(
            compute_judged_metric(
                b,
                baseline_accuracy=record.accuracy,
                tail_thresholds=tuple(record.tail_thresholds),
                latency_cv2=record.latency_cv2,
            )
        )
    return judged


def _margins(specs: Sequence[JudgedMetric]) -> Margins:
    """Where the scenarios' truth lies: the bound metrics' margins (first of each kind)."""
    first: dict[MetricKind, float] = {}
    for spec in specs:
        first.setdefault(spec.kind, spec.margin)
    default = Margins()
    return Margins(
        latency=first.get(MetricKind.LATENCY_BODY, default.latency),
        errors=first.get(MetricKind.ERRORS, default.errors),
        accuracy_points=first.get(MetricKind.ACCURACY, default.accuracy_points),
        anomalies=first.get(MetricKind.ANOMALIES, default.anomalies),
    )


def compute_setup(
    templates: Sequence[AnalysisTemplate],
    settings: SimSettings,
    *,
    overrides: MarginOverrides | None = None,
    min_duration_s: float | None = None,
) -> BenchmarkSetup:
    """The benchmark setup: metrics and sequential configuration from ``binding``.

    The analysis policy is the default one (α 0.01, β 0.05, onInconclusive pause) with
    maxDuration the simulated duration, minDuration ``min_duration_s`` (the soak before
    any promotion; None: the default soak of ``binding.compute_soak``) and one window per
    scrape.
    """
    specs = compute_judged_metrics(templates, settings, overrides=overrides or MarginOverrides())
    longest = timedelta(seconds=settings.duration_s)
    policy = AnalysisPolicy(
        templates=[TemplateRef(name=t.name) for t in templates],
        max_duration=longest,
        interval=timedelta(seconds=settings.scrape_s),
        **({} if min_duration_s is None else {"min_duration": timedelta(seconds=min_duration_s)}),
    )
    config = compute_sequential_config(
        policy,
        offset_s=0.0,
        min_s=compute_soak(policy, None, longest).total_seconds(),
        max_s=settings.duration_s,
    )
    return BenchmarkSetup(
        specs=tuple(specs), sequential=config, settings=settings, margins=_margins(specs)
    )
