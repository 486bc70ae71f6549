"""Webhooks: gating calls (the rollout waits for a 2xx) and informational ones.

Part of the ``controller`` layer's effects, on httpx with a tenacity retry policy. TLS
verification is on unless a webhook sets ``insecureSkipTlsVerify``. A gating webhook that
cannot be reached counts as a refusal ("not confirmed"), never as a confirmation. The
``rollback`` type is polled during analysis: a 2xx answer asks for a rollback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

from mlrollout.errors import WebhookError, WebhookUnavailableError
from mlrollout.spec.policy import Webhook, WebhookType

__all__ = ["GATING", "WebhookOutcome", "WebhookPayload", "send_webhooks"]

GATING = frozenset(
    {
        WebhookType.CONFIRM_ROLLOUT,
        WebhookType.PRE_ROLLOUT,
        WebhookType.CONFIRM_TRAFFIC_INCREASE,
        WebhookType.CONFIRM_PROMOTION,
    }
)


@dataclass(frozen=True)
class WebhookPayload:
    """What every webhook receives (JSON)."""

    name: str
    namespace: str
    phase: str
    image: str
    model_sha256: str
    reason: str
    step: int | None

    def to_json(self, hook: Webhook) -> dict[str, Any]:
        """The request body for ``hook``."""
        return {
            "name": self.name,
            "namespace": self.namespace,
            "type": hook.type.value,
            "phase": self.phase,
            "release": {"image": self.image, "modelSha256": self.model_sha256},
            "reason": self.reason,
            "step": self.step,
            "metadata": dict(hook.metadata),
        }


@dataclass(frozen=True)
class WebhookOutcome:
    """One call's result: ``ok`` is a 2xx answer."""

    url: str
    type: WebhookType
    ok: bool
    status: int | None
    message: str


def _once(client: httpx.Client, hook: Webhook, body: dict[str, Any]) -> httpx.Response:
    try:
        response = client.post(
            hook.url, json=body, headers=dict(hook.headers), timeout=hook.timeout.total_seconds()
        )
    except httpx.TransportError as exc:
        raise WebhookUnavailableError(
            f"webhook {hook.url}: {exc.__class__.__name__}: {exc}"
        ) from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise WebhookUnavailableError(f"webhook {hook.url}: HTTP {response.status_code}")
    return response


def send_webhook(
    hook: Webhook,
    payload: WebhookPayload,
    *,
    client: httpx.Client,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookOutcome:
    """Call one webhook with retries on transient failures; never raises."""
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(hook.retries + 1),
        wait=tenacity.wait_exponential(multiplier=0.5, max=5),
        retry=tenacity.retry_if_exception_type(WebhookUnavailableError),
        sleep=sleep,
        reraise=True,
    )
    try:
        response = retrying(_once, client, hook, payload.to_json(hook))
    except WebhookError as exc:
        return WebhookOutcome(hook.url, hook.type, False, None, str(exc))
    ok = 200 <= response.status_code < 300
    text = response.text[:200].strip()
    message = f"HTTP {response.status_code}" + (f": {text}" if text else "")
    return WebhookOutcome(hook.url, hook.type, ok, response.status_code, message)


def send_webhooks(
    hooks: Sequence[Webhook],
    kind: WebhookType,
    payload: WebhookPayload,
    *,
    client_factory: Callable[[bool], httpx.Client] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[WebhookOutcome]:
    """Call every webhook of ``kind``; a gating kind passes only if all answered 2xx."""
    factory = client_factory or (lambda verify: httpx.Client(verify=verify))
    outcomes = []
    for hook in hooks:
        if hook.type is not kind:
            continue
        with factory(not hook.insecure_skip_tls_verify) as client:
            outcomes.append(send_webhook(hook, payload, client=client, sleep=sleep))
    return outcomes
