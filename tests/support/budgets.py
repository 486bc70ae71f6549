"""Example budgets of the property tests, under the active hypothesis profile.

``tests/conftest.py`` registers two profiles: ``thorough`` (the default: ``make check``,
``make test``) keeps every budget as written; ``fast`` (``make fast`` passes
``--hypothesis-profile=fast``) runs a tenth of the examples, at least :data:`FLOOR`, so the
fast set still exercises every property on each run. A test names its thorough budget with
``@settings(max_examples=examples(n))``; a test without one gets the profile's.
"""

from __future__ import annotations

from hypothesis import settings

__all__ = ["FAST_EXAMPLES", "FLOOR", "THOROUGH_EXAMPLES", "examples", "register_profiles"]

THOROUGH_EXAMPLES = 100
FAST_EXAMPLES = 10
FLOOR = 5


def register_profiles() -> None:
    """Register ``thorough`` and ``fast`` and load ``thorough`` (``--hypothesis-profile`` wins)."""
    settings.register_profile("thorough", max_examples=THOROUGH_EXAMPLES, deadline=None)
    settings.register_profile("fast", max_examples=FAST_EXAMPLES, deadline=None)
    settings.load_profile("thorough")


def examples(thorough: int) -> int:
    """``thorough`` under the thorough profile; scaled like the profile's own budget otherwise."""
    active = settings.default.max_examples
    if active >= THOROUGH_EXAMPLES:
        return thorough
    return max(FLOOR, thorough * active // THOROUGH_EXAMPLES)
