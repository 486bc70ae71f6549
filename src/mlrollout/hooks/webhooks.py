"""Webhooks: gating calls (the rollout waits for a 2xx) and informational ones.

Part of ``hooks``, on httpx with a tenacity retry policy. TLS
verification is on unless a webhook sets ``insecureSkipTlsVerify``. A gating webhook that
cannot be reached counts as a refusal ("not confirmed"), never as a confirmation. Gating:
confirm-rollout and pre-rollout before any traffic, confirm-traffic-increase before each
weight increase, confirm-promotion before promotion. Informational: event on every phase
change, post-rollout on success, rollback when a release goes back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

from mlrollout.errors import WebhookError, WebhookUnavailableError
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec.policy import Webhook, WebhookType

__all__ = [
    "GATING",
    "WebhookConfirmer",
    "WebhookOutcome",
    "WebhookPayload",
    "send_informational",
    "send_webhooks",
]

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


def _payload(stored: StoredRollout, reason: str) -> WebhookPayload:
    rollout, status = stored.rollout, stored.status
    return WebhookPayload(
        name=rollout.name,
        namespace=rollout.namespace,
        phase=status.phase.value,
        image=rollout.spec.release.image,
        model_sha256=rollout.spec.release.model.sha256,
        reason=reason,
        step=status.current_step,
    )


class WebhookConfirmer:
    """The ``Confirmer`` port over ``send_webhooks``."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.sleep = sleep

    def confirm(
        self, stored: StoredRollout, types: Sequence[WebhookType]
    ) -> dict[str, tuple[bool, str]]:
        """Ask every webhook of each type; a type is confirmed when all answered 2xx."""
        out = {}
        for kind in types:
            outcomes = send_webhooks(
                stored.rollout.spec.webhooks,
                kind,
                _payload(stored, f"confirm {kind.value}"),
                sleep=self.sleep,
            )
            failed = [o for o in outcomes if not o.ok]
            message = "; ".join(f"{o.url}: {o.message}" for o in failed) or "confirmed"
            out[kind.value] = (not failed, message)
        return out


def send_informational(stored: StoredRollout, *, phase: str, reason: str) -> list[str]:
    """The ``event`` webhooks on every phase change, ``post-rollout`` on success and
    ``rollback`` when a release goes back; failures are returned for logging."""
    kinds = [WebhookType.EVENT]
    if phase == "Succeeded":
        kinds.append(WebhookType.POST_ROLLOUT)
    if phase in ("RolledBack", "Aborted", "Failed"):
        kinds.append(WebhookType.ROLLBACK)
    payload = _payload(stored, reason)
    failures = []
    for kind in kinds:
        for outcome in send_webhooks(stored.rollout.spec.webhooks, kind, payload):
            if not outcome.ok:
                failures.append(f"{kind.value} {outcome.url}: {outcome.message}")
    return failures
