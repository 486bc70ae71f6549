"""A small load generator for the reference model server (loopback only, bounded).

Part of the ``local`` sandbox. Sends ``rate`` prediction requests per second (open loop:
request ``i`` leaves at ``i / rate`` seconds) to one ``modelserver`` for ``duration``
seconds, at most ``max_requests`` in all, and for a ``feedback_fraction`` of the answered
predictions sends the true label to ``/feedback``. Examples come from the same seeded
``model.SyntheticTask`` as the server's training data, so the generator knows each true
label. Uses only the standard library (``urllib``) and a small thread pool.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from mlrollout.local.model import SyntheticTask
from mlrollout.local.serving import LOOPBACK

__all__ = ["LoadPlan", "LoadReport", "assess_loopback", "main", "post_json", "send_load"]


def assess_loopback(target: str) -> str:
    """``target`` when its host is loopback (the generators send nowhere else); else raise."""
    if urlsplit(target).hostname not in LOOPBACK:
        raise ValueError(f"the load generator targets loopback only, not {target}")
    return target


@dataclass(frozen=True)
class LoadPlan:
    """What to send: rate (requests/s), duration (s), a hard cap, the labelled fraction."""

    target: str
    rate: float = 20.0
    duration_s: float = 5.0
    max_requests: int = 10_000
    feedback_fraction: float = 1.0
    seed: int = 11
    timeout_s: float = 5.0
    workers: int = 8
    task: SyntheticTask = field(default_factory=SyntheticTask)

    def __post_init__(self) -> None:
        assess_loopback(self.target)
        if not (0 < self.rate <= 1000 and 0 < self.duration_s <= 3600):
            raise ValueError("rate must be in (0, 1000] and duration in (0, 3600] seconds")
        if not 0.0 <= self.feedback_fraction <= 1.0:
            raise ValueError("feedback_fraction must be in [0, 1]")


@dataclass
class LoadReport:
    """What happened: answers by HTTP status (0 = no answer) and feedback sent."""

    statuses: dict[int, int] = field(default_factory=dict)
    feedback: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def sent(self) -> int:
        """Prediction requests sent."""
        return sum(self.statuses.values())

    def count(self, status: int, *, labelled: bool) -> None:
        """Record one answered request (thread-safe)."""
        with self._lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.feedback += int(labelled)


def send_load(plan: LoadPlan) -> LoadReport:
    """Run ``plan`` to completion (bounded by ``duration_s`` plus one timeout)."""
    rng = np.random.default_rng(plan.seed)
    total = min(plan.max_requests, int(plan.rate * plan.duration_s))
    features, labels = plan.task.sample(rng, total)
    labelled = rng.random(total) < plan.feedback_fraction
    report = LoadReport()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=plan.workers) as pool:
        for index in range(total):
            delay = started + index / plan.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            example = ([float(x) for x in features[index]], int(labels[index]))
            pool.submit(_one, plan, example=example, labelled=bool(labelled[index]), report=report)
    return report


def _one(
    plan: LoadPlan, *, example: tuple[list[float], int], labelled: bool, report: LoadReport
) -> None:
    status, answer = post_json(
        plan.target, "/predict", {"features": example[0]}, timeout_s=plan.timeout_s
    )
    sent_feedback = False
    if status == 200 and labelled and "request_id" in answer:
        feedback = {"request_id": answer["request_id"], "label": example[1]}
        sent_feedback = (
            post_json(plan.target, "/feedback", feedback, timeout_s=plan.timeout_s)[0] == 200
        )
    report.count(status, labelled=sent_feedback)


def post_json(
    target: str, path: str, body: dict[str, Any], *, timeout_s: float
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as JSON to the model server's ``path``: the HTTP status (0: no answer)
    and the JSON object answered (empty when the answer is not one)."""
    request = urllib.request.Request(
        target.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = json.loads(response.read() or b"{}")
            return int(response.status), answer if isinstance(answer, dict) else {}
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code), {}
    except (OSError, ValueError):
        return 0, {}


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: print the report as JSON."""
    parser = argparse.ArgumentParser(prog="python -m mlrollout.local.loadgen")
    parser.add_argument("--target", required=True)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument(
        "--duration", dest="duration_s", metavar="DURATION", type=float, default=5.0
    )
    parser.add_argument("--max-requests", type=int, default=10_000)
    parser.add_argument("--feedback-fraction", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=11)
    report = send_load(LoadPlan(**vars(parser.parse_args(argv))))
    print(
        json.dumps({"sent": report.sent, "statuses": report.statuses, "feedback": report.feedback})
    )


if __name__ == "__main__":
    main()
