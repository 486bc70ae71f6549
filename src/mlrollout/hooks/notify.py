"""Notifications (Slack-compatible incoming webhooks) and the structured audit log.

Part of ``hooks``. Notifications are best effort: a failure is
logged, never allowed to hold a rollback. Every action the controller takes is also written
as one JSON line (what, why, which rollout, which generation) to the audit log.

A Slack URL is itself the credential: failures name it redacted (``redaction``); each post
has a total deadline (``deadline``) and the destination must be allowed (``spec.scope``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import httpx

from mlrollout.deadline import bounded_transport, total_deadline
from mlrollout.errors import SpecError
from mlrollout.redaction import redact
from mlrollout.spec.policy import Notification
from mlrollout.spec.scope import CredentialScope

__all__ = ["audit_line", "send_notifications", "slack_message"]

log = logging.getLogger("mlrollout.audit")
TIMEOUT_S = 10.0

_ICON = {
    "Succeeded": ":white_check_mark:",
    "RolledBack": ":rewind:",
    "Aborted": ":octagonal_sign:",
    "Failed": ":x:",
    "Refused": ":no_entry:",
    "Paused": ":double_vertical_bar:",
}


def slack_message(
    *, rollout: str, phase: str, reason: str, image: str, channel: str | None
) -> dict[str, Any]:
    """A Slack-compatible message body."""
    icon = _ICON.get(phase, ":arrows_counterclockwise:")
    body: dict[str, Any] = {
        "text": f"{icon} {rollout}: {phase} — {reason}",
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{icon} *{rollout}* is *{phase}*\n{reason}"},
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"image `{image}`"}]},
        ],
    }
    if channel:
        body["channel"] = channel
    return body


def send_notifications(
    channels: Sequence[Notification],
    *,
    rollout: str,
    phase: str,
    reason: str,
    image: str,
    post: Callable[[str, dict[str, Any]], httpx.Response] | None = None,
) -> list[str]:
    """Notify every channel subscribed to ``phase``; returns the failures (for logging)."""
    sender = post or _post
    scope = CredentialScope.from_environment()
    failures = []
    for channel in channels:
        if channel.on and phase not in channel.on:
            continue
        body = slack_message(
            rollout=rollout, phase=phase, reason=reason, image=image, channel=channel.channel
        )
        shown = redact(channel.url)
        try:
            scope.assess_destination(channel.url, field="notifications.url")
            with total_deadline(TIMEOUT_S):
                response = sender(channel.url, body)
        except (SpecError, httpx.HTTPError, httpx.InvalidURL, UnicodeError, ValueError) as exc:
            failures.append(f"{shown}: {type(exc).__name__}: {redact(str(exc))}")
            continue
        if response.status_code >= 300:
            failures.append(f"{shown}: HTTP {response.status_code}")
    return failures


def _post(url: str, body: dict[str, Any]) -> httpx.Response:
    # The answer is not needed: close without reading more than the status line.
    with (
        httpx.Client(transport=bounded_transport(), follow_redirects=False) as client,
        client.stream("POST", url, json=body, timeout=TIMEOUT_S) as response,
    ):
        return response


def audit_line(
    *,
    now: datetime,
    rollout: str,
    generation: int,
    action: str,
    reason: str,
    details: dict[str, Any] | None = None,
) -> str:
    """One JSON audit record (sorted keys, one line); the action's fields under ``details``."""
    record = {
        "time": now.isoformat(),
        "rollout": rollout,
        "generation": generation,
        "action": action,
        "reason": reason,
        "details": details or {},
    }
    return json.dumps(record, sort_keys=True, default=str)
