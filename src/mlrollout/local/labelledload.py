"""Steady labelled traffic for the local platform: predictions, then their true labels.

Part of the ``local`` sandbox. ``LabelledLoad`` sends ``rate`` prediction requests per
second (open loop) to the local proxy until stopped, drawing examples from the seeded
``model.SyntheticTask`` so it knows each true label. For a ``feedback_fraction`` of the
answered predictions it sends the label to ``/feedback``: at once, or — for a
``delayed_fraction`` of them — ``delay_s`` seconds later, as labels arrive in production
(a chargeback confirms a fraud days later). Loopback only, a bounded thread pool, standard
library HTTP.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from mlrollout.local.loadgen import LoadReport, assess_loopback, post_json
from mlrollout.local.model import SyntheticTask

__all__ = ["LabelledLoad", "LoadSettings"]

_BATCH = 256


@dataclass(frozen=True)
class LoadSettings:
    """Rate (requests/s), labelled fraction, delayed-label fraction and delay, seed."""

    rate: float = 60.0
    feedback_fraction: float = 0.8
    delayed_fraction: float = 0.25
    delay_s: float = 3.0
    seed: int = 11
    workers: int = 16
    timeout_s: float = 10.0
    task: SyntheticTask = field(default_factory=SyntheticTask)

    def __post_init__(self) -> None:
        if not 0 < self.rate <= 1000:
            raise ValueError(f"rate must be in (0, 1000] requests/s, got {self.rate}")
        for name in ("feedback_fraction", "delayed_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if not 0 <= self.delay_s <= 3600:
            raise ValueError("delay_s must be in [0, 3600]")


@dataclass
class LoadCounts(LoadReport):
    """Answers by HTTP status (0: no answer), labels sent (``feedback``) and how many of
    them were sent late."""

    labels_delayed: int = 0

    def count_label(self, *, delayed: bool) -> None:
        """Record one label the server took (thread-safe)."""
        with self._lock:
            self.feedback += 1
            self.labels_delayed += int(delayed)


class LabelledLoad:
    """Runs in background threads between ``start`` and ``stop``."""

    def __init__(self, target: str, settings: LoadSettings | None = None) -> None:
        self.target = assess_loopback(target).rstrip("/")
        self.settings = settings or LoadSettings()
        self.counts = LoadCounts()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=self.settings.workers, thread_name_prefix="local-load"
        )
        self._delayed: list[tuple[float, int, str, int]] = []
        self._order = itertools.count()
        self._threads = [
            threading.Thread(target=self._send, daemon=True, name="local-load-clock"),
            threading.Thread(target=self._release_labels, daemon=True, name="local-load-labels"),
        ]

    def start(self) -> LabelledLoad:
        """Start sending."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop sending (requests in flight finish within their timeout, unawaited)."""
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _send(self) -> None:
        s = self.settings
        rng = np.random.default_rng(s.seed)
        started = time.monotonic()
        index = 0
        while not self._stop.is_set():
            features, labels = s.task.sample(rng, _BATCH)
            labelled = rng.random(_BATCH) < s.feedback_fraction
            delayed = rng.random(_BATCH) < s.delayed_fraction
            for i in range(_BATCH):
                wait = started + index / s.rate - time.monotonic()
                if (wait > 0 and self._stop.wait(wait)) or self._stop.is_set():
                    return
                index += 1
                example = ([float(x) for x in features[i]], int(labels[i]))
                label_mode = "delayed" if delayed[i] else "now"
                self._pool.submit(self._one, example, label_mode if labelled[i] else None)

    def _one(self, example: tuple[list[float], int], label_mode: str | None) -> None:
        status, answer = self._post("/predict", {"features": example[0]})
        self.counts.count(status, labelled=False)
        request_id = answer.get("request_id")
        if status != 200 or label_mode is None or not isinstance(request_id, str):
            return
        if label_mode == "delayed":
            due = time.monotonic() + self.settings.delay_s
            with self._lock:
                heapq.heappush(self._delayed, (due, next(self._order), request_id, example[1]))
            return
        self._label(request_id, example[1], delayed=False)

    def _label(self, request_id: str, label: int, *, delayed: bool) -> None:
        if self._post("/feedback", {"request_id": request_id, "label": label})[0] == 200:
            self.counts.count_label(delayed=delayed)

    def _release_labels(self) -> None:
        while not self._stop.wait(0.1):
            now = time.monotonic()
            due: list[tuple[str, int]] = []
            with self._lock:
                while self._delayed and self._delayed[0][0] <= now:
                    _, _, request_id, label = heapq.heappop(self._delayed)
                    due.append((request_id, label))
            for request_id, label in due:
                if self._stop.is_set():
                    return
                self._pool.submit(self._label, request_id, label, delayed=True)

    def _post(self, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        return post_json(self.target, path, body, timeout_s=self.settings.timeout_s)
