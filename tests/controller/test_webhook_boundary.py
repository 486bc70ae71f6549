"""Webhooks at the boundary: a URL that does not parse, a header value that is not ASCII or
a host the controller does not allow is a refusal (never an exception out of the pass); a
response body is kept only as a short redacted summary; secret URLs never appear whole."""

from __future__ import annotations

import httpx
import pytest
import respx

from mlrollout.hooks.notify import send_notifications
from mlrollout.hooks.webhooks import WebhookPayload, send_webhook
from mlrollout.redaction import register_secret
from mlrollout.spec.policy import Notification, Webhook

PAYLOAD = WebhookPayload("r", "ns", "Progressing", "img", "0" * 64, "why", 1)


def _hook(**fields: object) -> Webhook:
    # Headers are refused at load too; model_copy skips validation so the send-time check,
    # the second line of defence, is what is tested here.
    headers = fields.pop("headers", {})
    hook = Webhook.model_validate(
        {"type": "confirm-promotion", "url": "https://gate.example/confirm", **fields}
    )
    return hook.model_copy(update={"headers": headers})


def test_headers_that_are_not_printable_ascii_are_refused_at_load() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must be printable ASCII"):
        Webhook.model_validate(
            {"type": "event", "url": "https://x.example/", "headers": {"X": "a\r\nB: c"}}
        )


def _send(hook: Webhook) -> tuple[bool, str]:
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        outcome = send_webhook(hook, PAYLOAD, client=client, sleep=lambda s: None)
    return outcome.ok, outcome.message


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "http://[::1/confirm"}, "unusable URL"),
        ({"headers": {"X-Team": "équipe"}}, "header 'X-Team' must be printable ASCII"),
        ({"headers": {"X-Bad": "a\r\nInjected: 1"}}, "must be printable ASCII"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "link-local address"),
    ],
    ids=["url-does-not-parse", "non-ascii-header", "header-injection", "metadata-endpoint"],
)
def test_unsendable_webhooks_are_refusals(fields: dict[str, object], message: str) -> None:
    ok, text = _send(_hook(**fields))
    assert not ok
    assert message in text


def test_allowed_hosts_limit_webhook_destinations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLROLLOUT_ALLOWED_HOSTS", "*.internal.example")
    ok, text = _send(_hook())
    assert not ok
    assert "host gate.example is not allowed" in text


@respx.mock
def test_a_response_body_is_summarised_and_redacted() -> None:
    register_secret("echoed-token-1234")
    body = "refused: token echoed-token-1234\n" + "x" * 5000
    respx.post("https://gate.example/confirm").mock(return_value=httpx.Response(403, text=body))
    with httpx.Client() as client:
        outcome = send_webhook(_hook(), PAYLOAD, client=client, sleep=lambda s: None)
    assert not outcome.ok
    assert "echoed-token-1234" not in outcome.message
    assert len(outcome.message) < 300


def test_a_slack_url_is_never_shown_whole() -> None:
    url = "https://hooks.slack.com/services/T000/B000/SeCrEtPaTh"

    def post(target: str, body: dict[str, object]) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {target}")

    failures = send_notifications(
        [Notification.model_validate({"url": url})],
        rollout="r",
        phase="Failed",
        reason="x",
        image="i",
        post=post,
    )
    assert failures
    assert all("SeCrEtPaTh" not in f for f in failures)
