"""Every retry policy of the project, named, in one place (tenacity underneath).

Bottom layer, beside ``errors``. Only ``TransientError``s are retried, and of those never a
``ConflictError``: a 409 means the caller must re-read and recompute, which only the caller
can do. A throttled call (429) waits what the server's Retry-After says. ``sleep`` is
injected so tests never wait. The callers: the kube layer (``API_READ``, ``API_WRITE``),
metric providers (``PROVIDER_RETRY``), the registry client (``REGISTRY``) and webhooks
(``webhook_policy``, from each webhook's ``retries``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from mlrollout.errors import ConflictError, ThrottledError, TransientError

__all__ = [
    "API_READ",
    "API_WRITE",
    "PROVIDER_RETRY",
    "REGISTRY",
    "RetryPolicy",
    "call_with_retry",
    "compute_retrying",
    "webhook_policy",
]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential back-off: ``attempts`` tries, waits from ``initial_s`` to ``max_s``."""

    attempts: int = 3
    initial_s: float = 0.5
    max_s: float = 4.0
    name: str = "custom"


API_READ = RetryPolicy(attempts=5, initial_s=0.1, max_s=4.0, name="api-read")
API_WRITE = RetryPolicy(attempts=6, initial_s=0.2, max_s=8.0, name="api-write")
PROVIDER_RETRY = RetryPolicy(attempts=3, initial_s=0.5, max_s=4.0, name="provider")
"""Three tries within about 1.5 s of waiting: short enough to fit one analysis interval."""
REGISTRY = RetryPolicy(attempts=3, initial_s=0.2, max_s=2.0, name="registry")


def webhook_policy(retries: int) -> RetryPolicy:
    """A webhook's own ``retries`` after its first call."""
    return RetryPolicy(attempts=retries + 1, initial_s=0.5, max_s=5.0, name="webhook")


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, TransientError) and not isinstance(exc, ConflictError)


def _wait(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    backoff = tenacity.wait_exponential(multiplier=policy.initial_s, max=policy.max_s)

    def wait(state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, ThrottledError) and exc.retry_after is not None:
            return exc.retry_after.total_seconds()
        return float(backoff(state))

    return wait


def compute_retrying(
    policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep
) -> tenacity.Retrying:
    """A tenacity controller for ``policy`` that re-raises the last error when it gives up."""
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=_wait(policy),
        retry=tenacity.retry_if_exception(_retryable),
        sleep=sleep,
        reraise=True,
    )


def call_with_retry(
    fn: Callable[[], T], *, policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Call ``fn``; retry transient failures per ``policy``; re-raise the last failure."""
    return compute_retrying(policy, sleep)(fn)
