"""The verified-digest cache: bounded LRU, entries expire after the TTL (fake clock)."""

from __future__ import annotations

import pytest

from mlrollout.admission import VerifiedCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_the_ttl() -> None:
    clock = FakeClock()
    cache = VerifiedCache(max_entries=4, ttl=10, clock=clock)
    cache.add("a")
    clock.now = 9.9
    assert cache.contains("a")
    clock.now = 10.0
    assert not cache.contains("a")
    assert len(cache) == 0


def test_least_recently_used_is_dropped_beyond_the_bound() -> None:
    cache = VerifiedCache(max_entries=2, ttl=60, clock=FakeClock())
    cache.add("a")
    cache.add("b")
    assert cache.contains("a")  # a is now the most recent
    cache.add("c")
    assert (cache.contains("a"), cache.contains("b"), cache.contains("c")) == (True, False, True)
    assert len(cache) == 2


@pytest.mark.parametrize(("size", "ttl"), [(0, 1.0), (1, 0.0)], ids=["no-room", "no-ttl"])
def test_bad_bounds_are_refused(size: int, ttl: float) -> None:
    with pytest.raises(ValueError, match="max_entries must be >= 1 and ttl > 0"):
        VerifiedCache(max_entries=size, ttl=ttl)
