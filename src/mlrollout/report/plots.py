"""The report's plots as inline SVG, drawn with matplotlib (imported here, lazily).

Part of the ``report`` layer, used only by ``html``: nothing imports matplotlib until an
HTML report is rendered, so the CLI starts without it. Plots carry no text taken from the
spec or from Prometheus (titles and names are in the HTML, escaped by Jinja2); what
matplotlib writes is numbers, fixed words and dates, and its SVG writer escapes text
anyway (``tests/report`` checks both). Every figure gets its own id salt so several inline
SVGs in one page never share element ids; the XML prolog and DOCTYPE are dropped.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from mlrollout.report.record import Distribution, MetricReport, TimelineEntry, TrafficPoint

__all__ = ["plot_distribution", "plot_effect", "plot_evidence", "plot_timeline"]

CANARY, BASELINE, BAD, GOOD = "#d9480f", "#1864ab", "#c92a2a", "#2b8a3e"
_counter = [0]


def _figure(height: float = 2.6) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.6, height))
    figure.subplots_adjust(left=0.13, right=0.97, top=0.95, bottom=0.2)
    return figure


def _svg(figure: Any) -> str:
    import matplotlib

    _counter[0] += 1
    buffer = io.StringIO()
    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": f"mlr{_counter[0]}", "font.size": 9}
    ):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else ""


def plot_timeline(traffic: Sequence[TrafficPoint], timeline: Sequence[TimelineEntry]) -> str:
    """Canary weight over time with every decision marked (rollbacks in red)."""
    figure = _figure(2.4)
    axes = figure.add_subplot()
    points = [(p.at, p.canary_percent) for p in traffic]
    marks = [(e.time, e.phase) for e in timeline]
    if points:
        times, weights = [t for t, _ in points], [w for _, w in points]
        end = max([times[-1], *(t for t, _ in marks)])
        axes.step([*times, end], [*weights, weights[-1]], where="post", color=CANARY, lw=2)
    for moment, phase in marks:
        bad = phase in ("RollingBack", "RolledBack", "Aborted", "Failed", "Refused")
        axes.axvline(moment, color=BAD if bad else "#868e96", lw=0.8, ls=":")
    from matplotlib.dates import DateFormatter

    axes.set_ylim(-3, 103)
    axes.set_ylabel("canary weight %")
    axes.xaxis.set_major_formatter(DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    axes.set_xlabel("time (UTC)")
    axes.grid(alpha=0.3)
    return _svg(figure)


def plot_distribution(distribution: Distribution) -> str:
    """Baseline vs canary: latency ECDF from buckets, or event rates with totals."""
    figure = _figure()
    axes = figure.add_subplot()
    if distribution.bounds and distribution.baseline_total > 0 and distribution.canary_total > 0:
        for counts, total, colour, label in (
            (distribution.baseline_counts, distribution.baseline_total, BASELINE, "baseline"),
            (distribution.canary_counts, distribution.canary_total, CANARY, "canary"),
        ):
            axes.step(
                distribution.bounds,
                [c / total for c in counts],
                where="post",
                color=colour,
                label=label,
                lw=1.6,
            )
        axes.set_xscale("log")
        axes.set_xlabel("latency bucket bound (le)")
        axes.set_ylabel("fraction of requests ≤")
        axes.legend(loc="lower right")
    else:
        rates = [
            _rate(distribution.baseline_events, distribution.baseline_total),
            _rate(distribution.canary_events, distribution.canary_total),
        ]
        axes.bar(["baseline", "canary"], rates, color=[BASELINE, CANARY])
        axes.set_ylabel("events per exposure")
    axes.grid(alpha=0.3)
    return _svg(figure)


def _rate(events: float | None, exposure: float) -> float:
    return (events or 0.0) / exposure if exposure > 0 else 0.0


def plot_effect(metric: MetricReport) -> str:
    """The effect estimate with its confidence sequence over analysis time."""
    figure = _figure()
    axes = figure.add_subplot()
    points = [p for p in metric.series if p.estimate is not None]
    minutes = [p.elapsed / 60 for p in points]
    band = [(p.elapsed / 60, p.lower, p.upper) for p in metric.series]
    lows = [(t, lo, hi) for t, lo, hi in band if lo is not None and hi is not None]
    if lows:
        axes.fill_between(
            [t for t, _, _ in lows],
            [lo for _, lo, _ in lows],
            [hi for _, _, hi in lows],
            color=CANARY,
            alpha=0.2,
            label="confidence sequence",
        )
    axes.plot(minutes, [p.estimate for p in points], color=CANARY, lw=1.6, label="estimate")
    axes.axhline(1.0 if "ratio" in metric.unit else 0.0, color="#495057", lw=0.8)
    axes.set_xlabel("analysis time (min)")
    axes.set_ylabel("effect (no change: line)")
    axes.grid(alpha=0.3)
    if points or lows:
        axes.legend(loc="upper left")
    return _svg(figure)


def plot_evidence(metric: MetricReport) -> str:
    """Both e-values over time against their thresholds, as log10 (clipped for display)."""
    figure = _figure()
    axes = figure.add_subplot()
    minutes = [p.elapsed / 60 for p in metric.series]
    thresholds = [t for t in (metric.rollback_at, metric.promote_at) if t and t > 0]
    ceiling = math.log10(max(thresholds, default=100.0)) + 1.0
    for values, threshold, colour, label in (
        ([p.e_rollback for p in metric.series], metric.rollback_at, BAD, "rollback"),
        ([p.e_promote for p in metric.series], metric.promote_at, GOOD, "promote"),
    ):
        pairs = [
            (t, min(max(math.log10(v), -1.0), ceiling))
            for t, v in zip(minutes, values, strict=True)
            if v is not None and v > 0
        ]
        if pairs:
            axes.plot([t for t, _ in pairs], [v for _, v in pairs], color=colour, label=label)
        if threshold is not None and math.isfinite(threshold) and threshold > 0:
            axes.axhline(math.log10(threshold), color=colour, ls="--", lw=1)
    axes.set_ylim(-1.05, ceiling + 0.05)
    axes.set_xlabel("analysis time (min)")
    axes.set_ylabel("log10 e-value")
    axes.grid(alpha=0.3)
    if metric.series:
        axes.legend(loc="upper left")
    return _svg(figure)
