"""The containment boundary's pure parts: classifying failures, backoff, heartbeats, fencing,
and redaction of credentials from every text that leaves the process."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

import pytest

from mlrollout.controller.containment import Backoff, classify
from mlrollout.controller.heartbeat import Heartbeats
from mlrollout.errors import LeaseLostError, ProviderError, SpecError
from mlrollout.kube.events import build_event
from mlrollout.kube.fencing import LeaseFence
from mlrollout.redaction import RedactingFilter, redact, register_secret, summarise_body


@pytest.mark.parametrize(
    ("error", "reason", "internal", "shown"),
    [
        (SpecError("bad", path="spec.x"), "SpecError", False, "spec.x: bad"),
        (ProviderError("prometheus answered 503"), "ProviderError", False, "503"),
        (KeyError("le"), "InternalError", True, "KeyError: 'le'"),
        (OverflowError("int too large"), "InternalError", True, "OverflowError"),
        (RecursionError("deep"), "SpecError", False, "nested too deeply"),
        (
            ValueError("GET https://bob:hunter22@prom.example/api failed"),
            "InternalError",
            True,
            "https://***@prom.example",
        ),
    ],
    ids=["spec", "provider", "keyerror", "overflow", "recursion", "userinfo"],
)
def test_classify_names_the_cause_and_redacts(
    error: Exception, reason: str, internal: bool, shown: str
) -> None:
    failure = classify(error)
    assert (failure.reason, failure.internal) == (reason, internal)
    assert shown in failure.message
    assert "hunter22" not in failure.message
    assert "\n" not in failure.message


def test_backoff_doubles_to_a_cap_and_resets() -> None:
    backoff = Backoff(base=timedelta(seconds=1), cap=timedelta(seconds=5))
    waits = [backoff.failed("k").total_seconds() for _ in range(5)]
    assert waits == [1, 2, 4, 5, 5]
    assert backoff.failures("k") == 5
    backoff.succeeded("k")
    assert backoff.failed("k") == timedelta(seconds=1)


def test_heartbeats_report_a_stuck_and_a_dead_worker() -> None:
    now = {"t": 0.0}
    beats = Heartbeats(stuck_after=timedelta(seconds=10), monotonic=lambda: now["t"])
    beats.begin("worker-0", ("ns", "slow"))
    now["t"] = 9
    assert beats.readiness().ready
    now["t"] = 11
    readiness = beats.readiness()
    assert not readiness.ready
    assert readiness.reason == "worker stuck: worker-0 on ns/slow for 11s"
    beats.end("worker-0")
    assert beats.readiness().ready
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    beats.attach("worker-1", thread)
    assert beats.readiness().reason == "worker dead: worker-1"


class _Lease:
    name = "mlrollout-controller"
    held = False


def test_a_fence_raises_once_the_lease_is_not_held() -> None:
    lost: list[int] = []
    fence = LeaseFence(_Lease(), on_lost=lambda: lost.append(1))
    with pytest.raises(LeaseLostError, match="not writing the traffic split"):
        fence.check("the traffic split")
    assert lost == [1]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("post https://hooks.slack.com/services/T00/B00/XyZsecret failed", "XyZsecret"),
        ("https://user:pa55word@registry.example/v2/", "pa55word"),
        ("Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi"),
        ("GET /api?access_token=s3cr3tvalue&x=1", "s3cr3tvalue"),
        ("the registered value tok-1234567 leaked", "tok-1234567"),
    ],
    ids=["slack", "userinfo", "bearer", "query", "registered"],
)
def test_redact_masks_credentials(text: str, secret: str) -> None:
    register_secret("tok-1234567")
    assert secret not in redact(text)
    assert "***" in redact(text)


def test_summarise_body_is_short_one_line_and_redacted() -> None:
    register_secret("echoed-secret-value")
    body = ("line one\nechoed-secret-value\n" + "x" * 1000).encode()
    summary = summarise_body(body, limit=50)
    assert "\n" not in summary
    assert "echoed-secret-value" not in summary
    assert len(summary) < 80


def test_events_and_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("log-secret-0042")
    event = build_event(
        {"metadata": {"name": "r", "namespace": "ns"}},
        type="Warning",
        reason="X",
        message="webhook https://hooks.slack.com/services/T/B/abc said log-secret-0042",
        now=datetime(2026, 1, 1),
    )
    assert "log-secret-0042" not in event["message"]
    assert "/services/T/B/abc" not in event["message"]
    record = logging.LogRecord("t", logging.WARNING, "f", 1, "token %s", ("log-secret-0042",), None)
    RedactingFilter().filter(record)
    assert "log-secret-0042" not in record.getMessage()
