"""The provider retry policy: which failures are retried, how often, how long to wait.

Part of the ``metrics`` layer; used by ``promapi`` around each HTTP call. Only
``TransientError``s (``ProviderUnavailableError``: refused connections, timeouts, 5xx, 429)
are retried; everything else surfaces at once. ``sleep`` is injected so tests never wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from mlrollout.errors import TransientError

__all__ = ["PROVIDER_RETRY", "RetryPolicy", "compute_retrying"]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential back-off: ``attempts`` tries, waits from ``initial_s`` to ``max_s``."""

    attempts: int = 3
    initial_s: float = 0.5
    max_s: float = 4.0


PROVIDER_RETRY = RetryPolicy()
"""Three tries within about 1.5 s of waiting: short enough to fit one analysis interval."""


def compute_retrying(policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> Retrying:
    """A tenacity controller for ``policy`` that re-raises the last error when it gives up."""
    return Retrying(
        sleep=sleep,
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.initial_s, max=policy.max_s),
        retry=retry_if_exception_type(TransientError),
        reraise=True,
    )
