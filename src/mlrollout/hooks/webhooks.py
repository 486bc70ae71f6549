"""Webhooks: gating calls (the rollout waits for a 2xx) and informational ones.

Part of ``hooks``, on httpx with a tenacity retry policy. TLS
verification is on unless a webhook sets ``insecureSkipTlsVerify``. A gating webhook that
cannot be reached counts as a refusal ("not confirmed"), never as a confirmation. Gating:
confirm-rollout and pre-rollout before any traffic, confirm-traffic-increase before each
weight increase, confirm-promotion before promotion. Informational: event on every phase
change, post-rollout on success, rollback when a release goes back.

Untrusted data is handled here, at the boundary: a URL that does not parse, a header value
that is not printable ASCII or a host the controller does not allow (``spec.scope``) is a
``WebhookError`` (a refusal), never an exception out of the pass. Each attempt has a total
deadline of the webhook's ``timeout`` (``deadline``), the answer is read up to
``MAX_RESPONSE_BYTES`` and only a short redacted summary of it is kept for status and logs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

from mlrollout.deadline import bounded_transport, total_deadline
from mlrollout.errors import SpecError, WebhookError, WebhookUnavailableError
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.redaction import redact, summarise_body
from mlrollout.spec.policy import Webhook, WebhookType
from mlrollout.spec.scope import CredentialScope

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

MAX_RESPONSE_BYTES = 64 * 1024


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


def _assess_request(hook: Webhook, scope: CredentialScope) -> None:
    """Refuse what cannot be sent safely before sending anything."""
    try:
        scope.assess_destination(hook.url, field="url")
        httpx.URL(hook.url)
    except (SpecError, httpx.InvalidURL) as exc:
        raise WebhookError(f"webhook {redact(hook.url)}: unusable URL: {exc}") from None
    for name, value in hook.headers.items():
        if not _printable_ascii(name) or not _printable_ascii(value):
            raise WebhookError(
                f"webhook {redact(hook.url)}: header {name[:40]!r} must be printable ASCII"
            )


def _printable_ascii(text: str) -> bool:
    return all(" " <= ch <= "~" or ch == "\t" for ch in text)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes


def _once(client: httpx.Client, hook: Webhook, body: dict[str, Any]) -> _Answer:
    shown = redact(hook.url)
    seconds = hook.timeout.total_seconds()
    try:
        with (
            total_deadline(seconds),
            client.stream(
                "POST", hook.url, json=body, headers=dict(hook.headers), timeout=seconds
            ) as response,
        ):
            answer = _Answer(response.status_code, _read_capped(response))
    except httpx.TimeoutException as exc:
        raise WebhookUnavailableError(f"webhook {shown}: no answer within {seconds:g}s") from exc
    except httpx.TransportError as exc:
        raise WebhookUnavailableError(
            f"webhook {shown}: {exc.__class__.__name__}: {redact(str(exc))}"
        ) from exc
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise WebhookError(
            f"webhook {shown}: {exc.__class__.__name__}: {redact(str(exc))}"
        ) from exc
    if answer.status >= 500 or answer.status == 429:
        raise WebhookUnavailableError(f"webhook {shown}: HTTP {answer.status}")
    return answer


def _read_capped(response: httpx.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            break  # only a summary is ever kept
    return bytes(body[:MAX_RESPONSE_BYTES])


def send_webhook(
    hook: Webhook,
    payload: WebhookPayload,
    *,
    client: httpx.Client,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookOutcome:
    """Call one webhook with retries on transient failures; never raises."""
    try:
        _assess_request(hook, CredentialScope.from_environment())
    except (WebhookError, SpecError) as exc:
        return WebhookOutcome(redact(hook.url), hook.type, False, None, str(exc))
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(hook.retries + 1),
        wait=tenacity.wait_exponential(multiplier=0.5, max=5),
        retry=tenacity.retry_if_exception_type(WebhookUnavailableError),
        sleep=sleep,
        reraise=True,
    )
    try:
        answer = retrying(_once, client, hook, payload.to_json(hook))
    except WebhookError as exc:
        return WebhookOutcome(redact(hook.url), hook.type, False, None, str(exc))
    ok = 200 <= answer.status < 300
    text = summarise_body(answer.body)
    message = f"HTTP {answer.status}" + (f": {text}" if text else "")
    return WebhookOutcome(redact(hook.url), hook.type, ok, answer.status, message)


def send_webhooks(
    hooks: Sequence[Webhook],
    kind: WebhookType,
    payload: WebhookPayload,
    *,
    client_factory: Callable[[bool], httpx.Client] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[WebhookOutcome]:
    """Call every webhook of ``kind``; a gating kind passes only if all answered 2xx."""
    factory = client_factory or _bounded_client
    outcomes = []
    for hook in hooks:
        if hook.type is not kind:
            continue
        with factory(not hook.insecure_skip_tls_verify) as client:
            outcomes.append(send_webhook(hook, payload, client=client, sleep=sleep))
    return outcomes


def _bounded_client(verify: bool) -> httpx.Client:
    return httpx.Client(transport=bounded_transport(verify=verify), follow_redirects=False)


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
