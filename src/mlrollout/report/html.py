"""A report record as one self-contained HTML page, for on-call on a laptop or a phone.

Part of the ``report`` layer. Jinja2 (autoescaping on, templates shipped as package data in
``report/templates``) lays out the decision first, the metrics table, what to do next, the
timeline, one card per metric (distributions, effect with its confidence band, evidence
against its threshold), findings, gates and the commands to reproduce. Plots come from
``plots`` as inline SVG; a Content-Security-Policy allows no script and no fetch, so the page
makes no network request and no value in it can run code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from mlrollout.model import format_instant
from mlrollout.report.markdown import format_number
from mlrollout.report.record import MetricReport, Outcome, ReportRecord

__all__ = ["render_html"]

_GOOD = {Outcome.PROMOTED, Outcome.PASS}
_BAD = {Outcome.ROLLED_BACK, Outcome.FAIL, Outcome.ABORTED, Outcome.FAILED, Outcome.REFUSED}
_ORDER = {"Failed": 0, "Error": 1, "Inconclusive": 2, "Running": 3, "Successful": 4}


@dataclass(frozen=True)
class MetricView:
    """One metric as the template shows it, with its plots."""

    metric: MetricReport
    anchor: str
    distribution_svg: Markup | None
    effect_svg: Markup | None
    evidence_svg: Markup | None


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("mlrollout.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.filters["instant"] = format_instant
    env.filters["second"] = _to_the_second
    return env


def _to_the_second(moment: datetime) -> str:
    """When the record was made, as people read it: RFC 3339 UTC to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_html(record: ReportRecord, *, plots: bool = True) -> str:
    """The page; ``plots=False`` leaves the SVG plots out (matplotlib not imported)."""
    views = [
        _view(m, i, plots=plots)
        for i, m in enumerate(sorted(record.metrics, key=lambda m: _ORDER.get(m.verdict.value, 5)))
    ]
    timeline = None
    if plots and record.traffic:
        from mlrollout.report.plots import plot_timeline

        timeline = Markup(plot_timeline(record.traffic, record.timeline))
    tone = "good" if record.decision.outcome in _GOOD else "bad"
    if record.decision.outcome not in _GOOD | _BAD:
        tone = "wait"
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            record=record,
            metrics=views,
            failing=[v for v in views if v.metric.verdict.value == "Failed"],
            timeline_svg=timeline,
            tone=tone,
        )
    )


def _view(metric: MetricReport, index: int, *, plots: bool) -> MetricView:
    if not plots:
        return MetricView(metric, f"metric-{index}", None, None, None)
    from mlrollout.report.plots import plot_distribution, plot_effect, plot_evidence

    distribution = (
        Markup(plot_distribution(metric.distribution)) if metric.distribution is not None else None
    )
    has_series = bool(metric.series)
    return MetricView(
        metric=metric,
        anchor=f"metric-{index}",
        distribution_svg=distribution,
        effect_svg=Markup(plot_effect(metric)) if has_series else None,
        evidence_svg=Markup(plot_evidence(metric)) if has_series else None,
    )
