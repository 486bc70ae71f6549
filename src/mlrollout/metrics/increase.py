"""Per-window increases of counters from raw samples: exact, reset-safe, on shared boundaries.

Part of the ``metrics`` layer, pure (no I/O). The Prometheus provider fetches the raw samples
of every counter series (one per pod, per ``le`` ...) and hands them here with the window
boundaries ``b0 < b1 < ... < bn`` that both variants share. For each series and window
``(b[k-1], b[k]]`` the increase is counted from the series' last sample at or before
``b[k-1]`` through its samples inside the window; a drop is a counter reset, after which
the new value counts from zero (``analysis.observations.compute_counter_increase``).
Windows therefore tile: their increases add up to the increase over ``(b0, bn]``, with no
extrapolation (unlike PromQL's ``increase``), so counts are exact integers for integer
counters.

A series with no sample at or before ``b[k-1]`` (a pod born inside the window) counts from
its first sample: its first value is not counted, which never invents events. A window in
which a series has no sample is *not observed* by that series; a group of series observes
a window when at least one of its series does, otherwise the window has no data (``None``).
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mlrollout.analysis.observations import compute_counter_increase

__all__ = ["Series", "compute_group_increases", "compute_window_increases"]


@dataclass(frozen=True)
class Series:
    """One time series: its labels and ``(timestamp seconds, value)`` samples, ascending."""

    labels: Mapping[str, str]
    samples: tuple[tuple[float, float], ...]


def compute_window_increases(
    samples: Sequence[tuple[float, float]], boundaries: Sequence[float]
) -> list[float | None]:
    """Increase of one counter series in each window between consecutive ``boundaries``.

    ``None`` marks a window in which the series has no sample; NaN marks one whose samples
    hold a NaN or Inf (no data, never a number: the whole group's window is then no data).
    """
    times = [t for t, _ in samples]
    out: list[float | None] = []
    for start, end in itertools.pairwise(boundaries):
        first = bisect_right(times, start)
        inside = [v for _, v in samples[first : bisect_right(times, end)]]
        if not inside:
            out.append(None)
            continue
        before = [samples[first - 1][1]] if first > 0 else []
        values = before + inside
        if not all(math.isfinite(v) for v in values):
            out.append(math.nan)
            continue
        out.append(compute_counter_increase(values))
    return out


def compute_group_increases(
    series: Sequence[Series], *, boundaries: Sequence[float], group_by: Sequence[str]
) -> list[list[tuple[dict[str, str], float]] | None]:
    """Per window, the summed increases of ``series`` grouped by the ``group_by`` labels.

    Like ``sum by (group_by) (increase(...))`` but exact. Each window is a list of
    ``(group labels, increase)``, or ``None`` when no series observed it.
    """
    windows: list[dict[tuple[str, ...], float] | None] = [None] * (len(boundaries) - 1)
    invalid: set[int] = set()
    for one in series:
        key = tuple(one.labels.get(name, "") for name in group_by)
        for index, increase in enumerate(compute_window_increases(one.samples, boundaries)):
            if increase is None:
                continue
            if math.isnan(increase):
                invalid.add(index)
            groups = windows[index]
            if groups is None:
                groups = windows[index] = {}
            groups[key] = groups.get(key, 0.0) + increase
    return [
        None
        if groups is None or index in invalid
        else [(dict(zip(group_by, key, strict=True)), value) for key, value in groups.items()]
        for index, groups in enumerate(windows)
    ]
