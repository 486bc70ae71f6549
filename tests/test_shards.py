"""The dealing of test files to shards (``tests/support/shards.py``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.shards import _parse, deal

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


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b"])
def test_a_bad_shard_option_is_refused(text: str) -> None:
    with pytest.raises(pytest.UsageError, match="--shard must be K/N"):
        _parse(text)
