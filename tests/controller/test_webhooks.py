"""Webhooks and notifications over httpx, tested with respx."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import respx

from mlrollout.hooks.notify import audit_line, send_notifications
from mlrollout.hooks.webhooks import WebhookPayload, send_webhooks
from mlrollout.spec.policy import Notification, Webhook, WebhookType

PAYLOAD = WebhookPayload(
    name="fraud",
    namespace="ml",
    phase="Progressing",
    image="r/x@sha256:" + "a" * 64,
    model_sha256="b" * 64,
    reason="step 2",
    step=2,
)
URL = "https://gate.example.com/confirm"


def hook(**kw: object) -> Webhook:
    return Webhook.model_validate({"type": "confirm-promotion", "url": URL, **kw})


@respx.mock
def test_gating_webhook_confirms_on_2xx_with_the_payload() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, text="go"))
    [outcome] = send_webhooks(
        [hook(metadata={"team": "fraud"})],
        WebhookType.CONFIRM_PROMOTION,
        PAYLOAD,
        sleep=lambda s: None,
    )
    assert outcome.ok
    assert outcome.message == "HTTP 200: go"
    body = json.loads(route.calls[0].request.content)
    assert body["type"] == "confirm-promotion"
    assert body["release"]["image"] == PAYLOAD.image
    assert body["metadata"] == {"team": "fraud"}


@respx.mock
def test_refusal_and_outage_both_count_as_not_confirmed() -> None:
    respx.post(URL).mock(return_value=httpx.Response(403, text="frozen"))
    [refused] = send_webhooks(
        [hook()], WebhookType.CONFIRM_PROMOTION, PAYLOAD, sleep=lambda s: None
    )
    assert not refused.ok
    assert refused.status == 403


@respx.mock
def test_transient_failures_are_retried_then_fail_closed() -> None:
    waits: list[float] = []
    route = respx.post(URL).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(204)]
    )
    [outcome] = send_webhooks(
        [hook(retries=2)], WebhookType.CONFIRM_PROMOTION, PAYLOAD, sleep=waits.append
    )
    assert outcome.ok
    assert route.call_count == 3
    assert len(waits) == 2
    route.side_effect = [httpx.ConnectError("refused")] * 3
    [down] = send_webhooks(
        [hook(retries=2)], WebhookType.CONFIRM_PROMOTION, PAYLOAD, sleep=waits.append
    )
    assert not down.ok
    assert "ConnectError" in down.message


@respx.mock
def test_only_webhooks_of_the_kind_are_called() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200))
    other = Webhook.model_validate({"type": "post-rollout", "url": "https://x.example.com/p"})
    outcomes = send_webhooks([hook(), other], WebhookType.CONFIRM_PROMOTION, PAYLOAD)
    assert [o.type for o in outcomes] == [WebhookType.CONFIRM_PROMOTION]
    assert route.call_count == 1


def test_tls_verification_is_on_unless_skipped() -> None:
    seen: list[bool] = []

    def factory(verify: bool) -> httpx.Client:
        seen.append(verify)
        return httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))

    send_webhooks(
        [hook(), hook(insecureSkipTlsVerify=True)],
        WebhookType.CONFIRM_PROMOTION,
        PAYLOAD,
        client_factory=factory,
    )
    assert seen == [True, False]


def test_notifications_go_to_subscribed_channels_only() -> None:
    sent: list[tuple[str, dict[str, object]]] = []

    def post(url: str, body: dict[str, object]) -> httpx.Response:
        sent.append((url, body))
        return httpx.Response(200)

    channels = [
        Notification.model_validate({"url": "https://hooks.example.com/a", "on": ["RolledBack"]}),
        Notification.model_validate(
            {"url": "https://hooks.example.com/b", "channel": "#ml-oncall"}
        ),
    ]
    failures = send_notifications(
        channels,
        rollout="ml/fraud",
        phase="Succeeded",
        reason="all steps passed",
        image="r/x@sha256:1",
        post=post,
    )
    assert failures == []
    assert [url for url, _ in sent] == ["https://hooks.example.com/b"]
    body = sent[0][1]
    assert body["channel"] == "#ml-oncall"
    assert "ml/fraud" in str(body["text"])


def test_notification_failures_are_reported_not_raised() -> None:
    def post(url: str, body: dict[str, object]) -> httpx.Response:
        raise httpx.ConnectError("down")

    channel = Notification.model_validate({"url": "https://hooks.example.com/a"})
    failures = send_notifications(
        [channel], rollout="r", phase="Failed", reason="x", image="i", post=post
    )
    assert failures == ["https://hooks.example.com/a: ConnectError: down"]


def test_audit_line_is_one_sorted_json_object() -> None:
    line = audit_line(
        now=datetime(2026, 11, 26, tzinfo=UTC),
        rollout="ml/fraud",
        generation=3,
        action="Shift",
        reason="step 2",
        details={"weight": 25},
    )
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-11-26T00:00:00+00:00",
        "rollout": "ml/fraud",
        "generation": 3,
        "action": "Shift",
        "reason": "step 2",
        "details": {"weight": 25},
    }


def _stored_with_hooks(hooks: list[dict[str, object]]) -> object:
    from controller_world import rollout_from
    from loop_fakes import MemoryState

    raw = rollout_from("canary.yaml")
    raw["spec"]["webhooks"] = hooks
    return MemoryState(raw).read()


@respx.mock
def test_confirmer_asks_each_type_and_reports_refusals() -> None:
    from mlrollout.hooks.webhooks import WebhookConfirmer

    respx.post("https://gate.example.com/a").mock(return_value=httpx.Response(200))
    respx.post("https://gate.example.com/b").mock(return_value=httpx.Response(409, text="no"))
    stored = _stored_with_hooks(
        [
            {"type": "confirm-promotion", "url": "https://gate.example.com/a"},
            {"type": "confirm-traffic-increase", "url": "https://gate.example.com/b"},
        ]
    )
    answers = WebhookConfirmer(sleep=lambda s: None).confirm(
        stored, [WebhookType.CONFIRM_PROMOTION, WebhookType.CONFIRM_TRAFFIC_INCREASE]
    )
    assert answers["confirm-promotion"] == (True, "confirmed")
    ok, message = answers["confirm-traffic-increase"]
    assert not ok
    assert "HTTP 409: no" in message


@respx.mock
def test_informational_webhooks_follow_the_phase() -> None:
    from mlrollout.hooks.webhooks import send_informational

    event = respx.post("https://hooks.example.com/event").mock(return_value=httpx.Response(200))
    post = respx.post("https://hooks.example.com/post").mock(return_value=httpx.Response(500))
    back = respx.post("https://hooks.example.com/back").mock(return_value=httpx.Response(200))
    stored = _stored_with_hooks(
        [
            {"type": "event", "url": "https://hooks.example.com/event"},
            {"type": "post-rollout", "url": "https://hooks.example.com/post", "retries": 0},
            {"type": "rollback", "url": "https://hooks.example.com/back"},
        ]
    )
    failures = send_informational(stored, phase="Succeeded", reason="done")
    assert (event.call_count, post.call_count, back.call_count) == (1, 1, 0)
    assert failures == [
        "post-rollout https://hooks.example.com/post: webhook "
        "https://hooks.example.com/post: HTTP 500"
    ]
    send_informational(stored, phase="RolledBack", reason="latency")
    assert back.call_count == 1
