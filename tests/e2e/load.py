"""The e2e load generator: open-loop prediction requests routed request by request.

Part of the e2e test bed (``tests/e2e``); ``dataplane.RoutedPlane.run_load`` starts it with
the data plane's current ``routing.Routing``. Unlike ``mlrollout.local.loadgen`` (one fixed
target) it asks the routing table for every request, so it keeps its own small sender; it
draws examples from the same ``mlrollout.local.model.SyntheticTask`` as the model servers,
so the labels it sends to ``POST /feedback`` are the true ones and accuracy is meaningful.

Request ``i`` leaves at ``i / rps`` seconds (open loop) from a scheduler thread; a small
thread pool sends it. One seeded RNG draws the examples, the routing picks, the labelled
subset and the headered subset, so a run is reproducible for a given weight history.
Feedback goes to the environment that answered (request ids are per server), as a label
service joining on the request id would. A mirrored copy is sent and its answer dropped.
Bounded: at most ``max_requests`` (default ``rps * duration_s``) over ``duration_s``, loopback
targets only, each request with a timeout.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mlrollout.local.model import SyntheticTask

from .routing import PLAIN_REQUEST, Request, Routing, decide_destination

__all__ = ["EnvCounts", "LoadRun", "LoadSpec", "LoadStats", "UsedWeights", "send_json"]

_MAX_REQUESTS = 100_000


@dataclass(frozen=True)
class LoadSpec:
    """What to send: rate, duration, labelled and headered fractions, seed and bounds."""

    rps: float
    duration_s: float
    feedback_fraction: float
    seed: int
    headers: Mapping[str, str] = field(default_factory=dict)
    header_fraction: float = 0.0
    max_requests: int | None = None
    workers: int = 8
    timeout_s: float = 5.0
    task: SyntheticTask = field(default_factory=SyntheticTask)

    def __post_init__(self) -> None:
        if not (0 < self.rps <= 1000 and 0 < self.duration_s <= 600):
            raise ValueError("rps must be in (0, 1000] and duration_s in (0, 600]")
        for name in ("feedback_fraction", "header_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")

    @property
    def total(self) -> int:
        """How many prediction requests the run sends at most."""
        planned = math.ceil(self.rps * self.duration_s)
        return min(planned, self.max_requests or planned, _MAX_REQUESTS)


@dataclass
class EnvCounts:
    """One environment's share of a run."""

    requests: int = 0  # predictions sent to its server
    errors: int = 0  # of those, answered other than 200 or not at all
    feedback: int = 0  # labels sent and accepted
    correct: int = 0  # of those, the prediction was right
    mirrored: int = 0  # mirrored copies sent to it (answers dropped)
    no_endpoints: int = 0  # routed to it while it had no ready endpoint: failed


@dataclass(frozen=True)
class UsedWeights:
    """From ``time`` (monotonic) on, the run routed plain requests with these percentages."""

    time: float
    weights: Mapping[str, float]


@dataclass(frozen=True)
class LoadStats:
    """A snapshot of a run: counts per environment, failures, the weights it used."""

    per_env: Mapping[str, EnvCounts]
    no_endpoints: int
    dispatched: int
    series: tuple[UsedWeights, ...]

    def share(self, env: str) -> float:
        """The fraction of answered-or-failed predictions that went to ``env``."""
        total = sum(c.requests for c in self.per_env.values()) + self.no_endpoints
        return self.per_env[env].requests / total if total else 0.0


def send_json(url: str, body: Mapping[str, Any], *, timeout_s: float) -> tuple[int, Any]:
    """POST ``body`` as JSON: ``(status, decoded answer)``; status 0 when nothing answered."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), {}
    except (OSError, ValueError, http.client.HTTPException):
        return 0, {}


class LoadRun:
    """One bounded run in a background thread (``start``, then ``wait`` or ``stop``)."""

    def __init__(
        self,
        spec: LoadSpec,
        *,
        routing: Callable[[], Routing],
        backends: Mapping[str, str],
    ) -> None:
        self.spec = spec
        self._routing = routing
        self._backends = {env: url.rstrip("/") for env, url in backends.items()}
        self._lock = threading.Lock()
        self._counts = {env: EnvCounts() for env in backends}
        self._no_endpoints = 0
        self._dispatched = 0
        self._series: list[UsedWeights] = []
        self._crashes: list[BaseException] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._schedule, name="e2e-load", daemon=True)
        self._pool = ThreadPoolExecutor(max_workers=spec.workers, thread_name_prefix="e2e-load")

    def start(self) -> LoadRun:
        """Begin sending."""
        self._thread.start()
        return self

    def wait(self, timeout_s: float | None = None) -> LoadStats:
        """Wait until every request is sent and answered (default: duration plus a timeout)."""
        spec = self.spec
        limit = timeout_s if timeout_s is not None else spec.duration_s + 2 * spec.timeout_s
        self._thread.join(timeout=limit)
        if self._thread.is_alive():
            raise AssertionError(f"the load run did not finish within {limit}s")
        if self._crashes:
            raise AssertionError(f"the load generator itself failed: {self._crashes[0]!r}")
        return self.stats

    def stop(self) -> LoadStats:
        """Send nothing more; wait for requests in flight; the counts so far. Requests queued
        but not yet sent (a backlog, when the senders fell behind the rate) are dropped."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        return self.wait()

    @property
    def stats(self) -> LoadStats:
        """The counts so far (a copy)."""
        with self._lock:
            return LoadStats(
                per_env={env: replace(c) for env, c in self._counts.items()},
                no_endpoints=self._no_endpoints,
                dispatched=self._dispatched,
                series=tuple(self._series),
            )

    # -- the scheduler -----------------------------------------------------------------

    def _schedule(self) -> None:
        spec = self.spec
        rng = np.random.default_rng(spec.seed)
        features, labels = spec.task.sample(rng, spec.total)
        draws = rng.random((spec.total, 4))  # pick, mirror pick, labelled, headered
        headered = Request(headers=dict(spec.headers))
        started = time.monotonic()
        try:
            for index in range(spec.total):
                delay = started + index / spec.rps - time.monotonic()
                if self._stopping.wait(max(delay, 0.0)):
                    break
                pick, mirror_pick, labelled, header = draws[index]
                request = headered if header < spec.header_fraction else PLAIN_REQUEST
                example = ([float(x) for x in features[index]], int(labels[index]))
                self._dispatch(
                    request,
                    example,
                    draws=(float(pick), float(mirror_pick)),
                    labelled=bool(labelled < spec.feedback_fraction),
                )
        finally:
            self._pool.shutdown(wait=True, cancel_futures=self._stopping.is_set())

    def _dispatch(
        self,
        request: Request,
        example: tuple[list[float], int],
        *,
        draws: tuple[float, float],
        labelled: bool,
    ) -> None:
        routing = self._routing()
        self._note_weights(routing)
        to = decide_destination(routing, request, pick=draws[0], mirror_pick=draws[1])
        with self._lock:
            self._dispatched += 1
            if not to.reachable:
                self._no_endpoints += 1
                if to.env in self._counts:
                    self._counts[to.env].no_endpoints += 1
        for env in to.mirrors:
            if env in self._backends:
                self._submit(self._mirror, env, request, example[0])
        if to.reachable and to.env in self._backends:
            self._submit(self._predict, to.env, request, example, labelled)

    def _submit(self, send: Callable[..., None], *args: Any) -> None:
        try:
            future = self._pool.submit(send, *args)
        except RuntimeError:  # ``stop`` shut the pool between our check and this request
            if self._stopping.is_set():
                return
            raise
        future.add_done_callback(self._check)

    def _check(self, done: Future[None]) -> None:
        # A sender bug must fail the test, not vanish into a future nobody reads.
        crash = None if done.cancelled() else done.exception()
        if crash is not None:
            with self._lock:
                self._crashes.append(crash)

    def _note_weights(self, routing: Routing) -> None:
        weights = routing.weights()
        with self._lock:
            if not self._series or self._series[-1].weights != weights:
                self._series.append(UsedWeights(time.monotonic(), weights))

    # -- the senders (pool threads) ----------------------------------------------------

    def _predict(
        self, env: str, request: Request, example: tuple[list[float], int], labelled: bool
    ) -> None:
        base, timeout = self._backends[env], self.spec.timeout_s
        status, answer = send_json(base + request.path, {"features": example[0]}, timeout_s=timeout)
        verdict: Any = None
        if status == 200 and labelled and isinstance(answer, dict) and "request_id" in answer:
            feedback = {"request_id": answer["request_id"], "label": example[1]}
            code, verdict = send_json(base + "/feedback", feedback, timeout_s=timeout)
            verdict = verdict if code == 200 and isinstance(verdict, dict) else None
        with self._lock:
            counts = self._counts[env]
            counts.requests += 1
            counts.errors += int(status != 200)
            counts.feedback += int(verdict is not None)
            counts.correct += int(bool(verdict and verdict.get("correct")))

    def _mirror(self, env: str, request: Request, features: list[float]) -> None:
        url = self._backends[env] + request.path
        send_json(url, {"features": features}, timeout_s=self.spec.timeout_s)
        with self._lock:
            self._counts[env].mirrored += 1
