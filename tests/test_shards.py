"""The dealing of test files to shards (``tests/support/shards.py``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.shards import UNRECORDED_SECONDS_PER_TEST, _parse, deal, file_weights

weights = st.dictionaries(
    st.text("abcdef/_.", min_size=1, max_size=12), st.floats(0, 1000), max_size=40
)


@given(weights, st.integers(1, 4))
def test_the_shards_are_disjoint_and_cover_every_file(files: dict[str, float], n: int) -> None:
    parts = deal(files, n)
    assert len(parts) == n
    assert sum(len(p) for p in parts) == len(files)
    assert set().union(*parts) == set(files)


@given(weights, st.integers(1, 4))
def test_no_shard_exceeds_the_even_share_by_more_than_one_file(
    files: dict[str, float], n: int
) -> None:
    loads = [sum(files[f] for f in part) for part in deal(files, n)]
    longest = max(files.values(), default=0.0)
    assert max(loads) <= sum(files.values()) / n + longest + 1e-6


def test_the_dealing_is_the_same_in_every_shard_process() -> None:
    files = {"b.py": 5.0, "a.py": 5.0, "c.py": 1.0, "d.py": 9.0}
    assert deal(files, 2) == deal(dict(reversed(list(files.items()))), 2)
    assert deal(files, 2) == [{"d.py", "c.py"}, {"a.py", "b.py"}]


def test_one_slow_file_gets_a_shard_of_its_own() -> None:
    files = {"slow.py": 600.0, **{f"t{i}.py": 10.0 for i in range(30)}}
    slow, rest = deal(files, 2)
    assert slow == {"slow.py"}
    assert len(rest) == 30


def test_a_file_weighs_only_the_tests_the_run_selected() -> None:
    recorded = {"a.py::fast": 1.0, "a.py::server": 50.0, "b.py::t[1]": 2.0, "b.py::t[2]": 3.0}
    selected = ["a.py::fast", "b.py::t[1]", "b.py::t[2]", "c.py::new"]
    assert file_weights(selected, recorded) == {
        "a.py": 1.0,
        "b.py": 5.0,
        "c.py": UNRECORDED_SECONDS_PER_TEST,
    }
    assert deal(file_weights(selected, recorded), 2) == [{"b.py"}, {"a.py", "c.py"}]


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b"])
def test_a_bad_shard_option_is_refused(text: str) -> None:
    with pytest.raises(pytest.UsageError, match="--shard must be K/N"):
        _parse(text)
