"""Named retry policies for Kubernetes API calls (tenacity), in one place.

Part of the ``kube`` layer. Only ``TransientError``s are retried, and of those not
``ConflictError``: a 409 means the caller must re-read and recompute, which only the caller
can do (``rollouts.update_status`` does). A 429 waits what the server's Retry-After says.
``sleep`` is injected so tests never wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from mlrollout.errors import ConflictError, ThrottledError, TransientError

__all__ = ["API_READ", "API_WRITE", "RetryPolicy", "call_with_retry"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure."""

    name: str
    attempts: int
    initial_wait: float
    max_wait: float


API_READ = RetryPolicy("api-read", attempts=5, initial_wait=0.1, max_wait=4.0)
API_WRITE = RetryPolicy("api-write", attempts=6, initial_wait=0.2, max_wait=8.0)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, TransientError) and not isinstance(exc, ConflictError)


def _wait(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    backoff = tenacity.wait_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, ThrottledError) and exc.retry_after is not None:
            return exc.retry_after.total_seconds()
        return float(backoff(state))

    return wait


def call_with_retry(
    fn: Callable[[], T], *, policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Call ``fn``; retry transient failures per ``policy``; re-raise the last failure."""
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=_wait(policy),
        retry=tenacity.retry_if_exception(_retryable),
        sleep=sleep,
        reraise=True,
    )
    return retrying(fn)
