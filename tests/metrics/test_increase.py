"""Exact per-window counter increases: resets, shared boundaries, births and gaps."""

from __future__ import annotations

import math

import pytest

from mlrollout.metrics.increase import Series, compute_group_increases, compute_window_increases

B = [0.0, 10.0, 20.0, 30.0]


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        pytest.param(
            [(-5, 100), (5, 103), (10, 107), (15, 110), (25, 111), (30, 120)],
            [7, 3, 10],
            id="steady, sample on a boundary counts once",
        ),
        pytest.param([(-5, 100), (5, 104), (15, 2), (25, 5)], [4, 2, 3], id="reset"),
        pytest.param([(-5, 100), (12, 0), (14, 1), (25, 1)], [None, 1, 0], id="reset to zero"),
        pytest.param([(12, 50), (18, 53), (28, 60)], [None, 3, 7], id="born inside a window"),
        pytest.param([(-5, 1), (5, 2)], [1, None, None], id="series ended"),
        pytest.param(
            [(-5, 1), (5, math.nan), (15, 3)],
            [math.nan, math.nan, None],
            id="nan sample poisons its next window too",
        ),
        pytest.param([], [None, None, None], id="no samples"),
    ],
)
def test_window_increases(samples: list[tuple[float, float]], expected: list[float | None]) -> None:
    got = compute_window_increases(samples, B)
    assert [None if g is None else ("nan" if math.isnan(g) else g) for g in got] == [
        None if e is None else ("nan" if math.isnan(e) else e) for e in expected
    ]


def test_windows_tile_to_the_total() -> None:
    samples = [(float(t), float(t * 3 if t < 17 else (t - 17) * 2)) for t in range(-3, 31)]
    per_window = compute_window_increases(samples, B)
    assert (
        sum(v for v in per_window if v is not None)
        == compute_window_increases(samples, [B[0], B[-1]])[0]
    )


def test_group_by_le_sums_pods() -> None:
    series = [
        Series({"le": "0.1", "pod": "a"}, ((0, 1), (10, 4))),
        Series({"le": "0.1", "pod": "b"}, ((0, 0), (10, 2))),
        Series({"le": "+Inf", "pod": "a"}, ((0, 1), (10, 9))),
    ]
    [window] = compute_group_increases(series, boundaries=[0, 10], group_by=["le"])
    assert window is not None
    assert sorted((labels["le"], value) for labels, value in window) == [("+Inf", 8), ("0.1", 5)]


def test_group_without_observation_is_no_data() -> None:
    series = [Series({"pod": "a"}, ((0, 1), (5, 2)))]
    assert compute_group_increases(series, boundaries=[0, 10, 20], group_by=[]) == [
        [({}, 1.0)],
        None,
    ]


def test_nan_in_one_series_makes_the_window_no_data() -> None:
    series = [
        Series({"pod": "a"}, ((0, 1), (5, 2))),
        Series({"pod": "b"}, ((0, 1), (5, math.inf))),
    ]
    assert compute_group_increases(series, boundaries=[0, 10], group_by=[]) == [None]
