"""``mlrollout.gates.__all__`` is the deliberate public surface and every name resolves."""

from __future__ import annotations

import mlrollout.gates as gates


def test_all_names_exist_and_are_documented() -> None:
    for name in gates.__all__:
        value = getattr(gates, name)
        assert value.__doc__, name


def test_all_is_sorted_and_has_the_controller_entry_point() -> None:
    assert list(gates.__all__) == sorted(gates.__all__)
    assert "fetch_verification" in gates.__all__
