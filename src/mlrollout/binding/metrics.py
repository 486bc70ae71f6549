"""Template metrics bound to their arguments, and their judged form.

Part of ``binding``. ``bind_metrics`` resolves a rollout's template references (with
argument defaults and the rollout's values); ``bind_arguments`` does the same for
templates named on the command line. ``compute_judged_metric`` is the one place that says
how a template metric is judged: its margins, whether it is critical, and whether it gates
promotion (tripwires never do).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from mlrollout.analysis import JudgedMetric
from mlrollout.errors import SpecError
from mlrollout.model.analysis import MetricRole
from mlrollout.spec import AnalysisTemplate, ModelRollout
from mlrollout.spec.template import DEFAULT_HOLD_WINDOWS, MetricSpec

__all__ = [
    "BoundMetric",
    "bind_arguments",
    "bind_metrics",
    "compute_judged_metric",
    "has_gate",
]


@dataclass(frozen=True)
class BoundMetric:
    """A template metric with the arguments its rollout (or command line) gives it."""

    template: str
    metric: MetricSpec
    args: Mapping[str, str]
    dry_run: bool = False

    @property
    def key(self) -> str:
        """Unique name across templates (``template/metric``)."""
        return f"{self.template}/{self.metric.name}"

    @property
    def relative_margin(self) -> float:
        """The rollback margin when it is relative (rates, latency); 0 otherwise."""
        margin = self.metric.effective_margin()
        return margin[1] if margin is not None and margin[0] == "relative" else 0.0


def has_gate(bound: Sequence[BoundMetric]) -> bool:
    """Whether any deciding metric gates promotion: with none, the sequential judge can roll
    back but never promote."""
    return any(not b.dry_run and b.metric.effective_role() is MetricRole.GATE for b in bound)


def _defaults(template: AnalysisTemplate) -> dict[str, str]:
    return {a.name: a.value for a in template.spec.args if a.value is not None}


def bind_metrics(
    rollout: ModelRollout, templates: Mapping[str, AnalysisTemplate]
) -> list[BoundMetric]:
    """Every metric of every referenced template, with argument defaults applied."""
    policy = rollout.spec.analysis
    if policy is None:
        return []
    bound = []
    for i, ref in enumerate(policy.templates):
        template = templates.get(ref.name)
        if template is None:
            raise SpecError(
                f"analysis template {ref.name!r} not found",
                path=f"spec.analysis.templates[{i}].name",
            )
        args = {**_defaults(template), **ref.args}
        bound += [BoundMetric(template.name, m, args, ref.dry_run) for m in template.spec.metrics]
    return bound


def bind_arguments(
    templates: Sequence[AnalysisTemplate],
    args: Mapping[str, str],
    *,
    path: str = "--arg",
    dry_run: Collection[str] = (),
) -> list[BoundMetric]:
    """Metrics of templates named directly, with ``args`` for the arguments they declare;
    the metrics of templates named in ``dry_run`` are judged and reported, never decide.

    An argument no template declares, or one a template needs and nobody gives, is a
    ``SpecError`` naming ``path``: nothing is sent anywhere with a half-filled query.
    """
    declared = {a.name for t in templates for a in t.spec.args}
    if unknown := sorted(set(args) - declared):
        known = ", ".join(sorted(declared)) or "none"
        raise SpecError(f"no template declares argument {unknown[0]!r} (known: {known})", path=path)
    bound = []
    for template in templates:
        values = _defaults(template)
        values.update(
            {k: v for k, v in args.items() if any(a.name == k for a in template.spec.args)}
        )
        missing = [a.name for a in template.spec.args if a.name not in values]
        if missing:
            raise SpecError(
                f"template {template.name!r} needs {path} {missing[0]}=VALUE", path=path
            )
        dry = template.name in dry_run
        bound += [BoundMetric(template.name, m, values, dry) for m in template.spec.metrics]
    return bound


def compute_judged_metric(
    bound: BoundMetric,
    *,
    baseline_accuracy: float | None,
    tail_thresholds: tuple[float, ...],
    latency_cv2: float | None = None,
) -> JudgedMetric:
    """The analysis layer's view of one metric, with every statistics setting it gets.

    The role decides ``gated`` (a gate must be shown within its margin to promote; a guard
    can only roll back); tripwire guards hold promotion over ``holdWindows`` recent windows;
    ``alphaWeight``, ``windowCap`` and the latency variance prior (``latency_cv2``,
    measured before the rollout) come from the template and the baseline, never from the
    caller — the controller, ``plan``, ``analyze`` and ``simulate`` all bind here.
    """
    metric = bound.metric
    margin = metric.effective_margin()
    promote = None
    if metric.promote_margin is not None and margin is not None:
        promote = float(getattr(metric.promote_margin, margin[0]))
    rng = metric.range
    tripwire = metric.kind.tripwire
    hold = metric.hold_windows or DEFAULT_HOLD_WINDOWS if tripwire else 0
    return JudgedMetric(
        name=bound.key,
        kind=metric.kind,
        margin=margin[1] if margin is not None else 0.0,
        promote_margin=promote,
        critical=metric.critical,
        weight=metric.weight,
        baseline_accuracy=baseline_accuracy,
        tail_thresholds=tail_thresholds,
        threshold_min=rng.min if rng is not None else None,
        threshold_max=rng.max if rng is not None else None,
        burst_prior=tripwire,
        dry_run=bound.dry_run,
        # Tripwires and threshold checks are guards by default: equal background rates
        # could never be shown within a zero margin (see MetricSpec.effective_role).
        gated=metric.effective_role() is MetricRole.GATE,
        alpha_weight=metric.alpha_weight,
        window_cap=metric.effective_window_cap(),
        hold_windows=hold,
        prior_var=JudgedMetric.prior_var if latency_cv2 is None else latency_cv2,
    )
