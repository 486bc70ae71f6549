"""Driving a rollout with the controller's own code on the real control plane, and the
invariants its audit log must satisfy.

Part of the ``controlplane`` test package. ``reconciler`` builds the controller's
Kubernetes platform (``controller.kubernetes.build_reconciler``) over whatever client the
test gives it (usually the ServiceAccount-token client of ``fixtures.TestBed``), with a
scripted analyst and a fake signed registry; ``check_audit`` reads the API server's audit
log for what the controller wrote.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import Reconciler, drive
from mlrollout.controller.manager import Manager, ManagerSettings
from mlrollout.core import AnalysisLook
from mlrollout.kube import KubeClient, LeaseSettings, StoredRollout
from mlrollout.kube.kinds import MODELROLLOUTS
from mlrollout.kube.rollouts import parse_stored
from mlrollout.model.analysis import AnalysisDecision
from support.cluster import BriskClock, SignedRegistry, create_rollout

from .audit import AuditLog, Request
from .workloads import build_model, build_route

__all__ = [
    "ScriptAnalyst",
    "check_audit",
    "reconciler",
    "run_manager",
    "run_rollout",
    "settled",
]


@dataclass
class ScriptAnalyst:
    """Answers ``script(step)`` at every analysis step ("promote" or "rollback")."""

    script: Callable[[int], str] = lambda step: "promote"
    looks: int = 0
    seen: list[int] = field(default_factory=list)

    def look(self, stored: StoredRollout, *, now_s: float) -> AnalysisLook | None:
        step = stored.status.current_step or 0
        canary = stored.rollout.spec.strategy.canary
        if canary is not None and (step >= len(canary.steps) or canary.steps[step].analyze is None):
            return None
        self.looks += 1
        self.seen.append(step)
        return AnalysisLook(
            decision=AnalysisDecision(self.script(step)),
            reason=f"scripted at step {step}",
            step=step,
        )


def reconciler(
    client: KubeClient,
    namespace: str,
    registry: SignedRegistry,
    *,
    script: Callable[[int], str] = lambda step: "promote",
) -> Reconciler:
    """The controller's reconciler for ``fraud-scorer`` in ``namespace`` through ``client``."""
    return build_reconciler(
        client,
        namespace=namespace,
        name="fraud-scorer",
        analyst=ScriptAnalyst(script),
        clock=BriskClock(),
        registry_factory=registry.client,
    )


def run_rollout(
    client: KubeClient,
    namespace: str,
    registry: SignedRegistry,
    *,
    script: Callable[[int], str] = lambda step: "promote",
    hours: float = 2,
    until: Callable[[StoredRollout], bool] | None = None,
) -> StoredRollout:
    """Reconcile until the rollout settles (scale-down of the old environment included)."""
    return drive(
        reconciler(client, namespace, registry, script=script),
        timeout=timedelta(hours=hours),
        until=until or settled,
    )


def model_rollout(
    admin: KubeClient, namespace: str, registry: SignedRegistry, *, router: str = "gateway-api"
) -> None:
    """The model's GPU environments and a rollout of ``registry.image`` through ``router``
    ("replicas" or "gateway-api", with its HTTPRoute)."""
    build_model(admin, namespace)
    raw = create_rollout(admin, registry.image, namespace=namespace)
    if router == "gateway-api":
        build_route(admin, namespace)
        raw["spec"]["strategy"]["canary"]["traffic"] = {
            "router": "gateway-api",
            "httpRoute": {"name": "fraud-scorer"},
        }
        admin.replace(MODELROLLOUTS, raw)


def read_rollout(admin: KubeClient, namespace: str) -> StoredRollout:
    """The rollout as stored."""
    return parse_stored(admin.get(MODELROLLOUTS, "fraud-scorer", namespace))


FAST_LEASE = LeaseSettings(
    lease_duration=timedelta(seconds=3),
    renew_deadline=timedelta(seconds=2),
    retry_period=timedelta(milliseconds=200),
)


@dataclass
class RunningManager:
    """A manager running in a thread; ``codes`` gets ``run``'s exit code when it returns."""

    manager: Manager
    thread: threading.Thread
    codes: list[int] = field(default_factory=list)

    def stop(self) -> None:
        """Ask it to stop and wait for its thread."""
        self.manager.stop()
        self.thread.join(10)


def start_manager(
    client: KubeClient,
    namespace: str,
    registry: SignedRegistry,
    *,
    identity: str = "controlplane-test",
    lease: LeaseSettings = FAST_LEASE,
) -> RunningManager:
    """Start the in-cluster manager (Lease, watch, work queue) on ``namespace`` through
    ``client`` in a thread; its requests carry ``identity`` as their User-Agent, so the
    audit log tells replicas apart (``check_fenced``)."""
    client.api_client.user_agent = identity

    def reconciler_for(c: KubeClient, key: tuple[str, str], analyst: object) -> Reconciler:
        return reconciler(c, key[0], registry)

    settings = ManagerSettings(
        identity=identity,
        namespace=namespace,
        lease_namespace=namespace,
        workers=1,
        lease=lease,
    )
    manager = Manager(client, settings, reconciler_for=reconciler_for)
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(manager.run()), daemon=True, name=f"manager-{identity}"
    )
    running = RunningManager(manager, thread, codes)
    thread.start()
    return running


def wait_until(
    predicate: Callable[[], bool], *, timeout: float = 60.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` (real time) until it holds; ``AssertionError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not reached after {timeout}s")


def wait_for(
    read: Callable[[], StoredRollout],
    until: Callable[[StoredRollout], bool],
    *,
    timeout: float = 60.0,
    what: str = "manager",
) -> StoredRollout:
    """Poll ``read()`` until ``until`` holds; ``AssertionError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = read()
        if until(stored):
            return stored
        time.sleep(0.2)
    raise AssertionError(f"{what}: not there after {timeout}s: {read().status.message}")


def run_manager(
    client: KubeClient,
    namespace: str,
    registry: SignedRegistry,
    *,
    read: Callable[[], StoredRollout],
    until: Callable[[StoredRollout], bool],
    timeout: float = 60.0,
    identity: str = "controlplane-test",
) -> StoredRollout:
    """Run the in-cluster manager on ``namespace`` through ``client`` until
    ``until(read())`` holds; ``AssertionError`` after ``timeout`` s."""
    running = start_manager(client, namespace, registry, identity=identity)
    try:
        return wait_for(read, until, timeout=timeout)
    finally:
        running.stop()


def settled(stored: StoredRollout) -> bool:
    """Finished, and the old environment scaled down."""
    return stored.status.phase.terminal and stored.status.scale_down is None


def _verified(write: Request) -> bool:
    status: dict[str, Any] = (write.stored or {}).get("status") or {}
    verification = status.get("verification") or {}
    return bool(verification.get("verified"))


def _route_shares(route: dict[str, Any]) -> dict[str, float]:
    """Each backend's share (%) of the first rule of an HTTPRoute."""
    rule = ((route.get("spec") or {}).get("rules") or [{}])[0]
    weights = {ref["name"]: int(ref.get("weight", 1)) for ref in rule.get("backendRefs") or []}
    total = sum(weights.values())
    return {name: 100 * w / total for name, w in weights.items() if w} if total else {}


def _first_change(writes: list[Request], *, user: str) -> Request | None:
    """The first write of ``user`` that deploys or moves traffic. An HTTPRoute rewrite that
    leaves every backend's share as it was (the router naming both backends at weight 0 for
    the idle one) moves nothing; a Deployment or Service write always counts."""
    shares: dict[str, dict[str, float]] = {}
    for w in writes:
        if w.resource == "httproutes" and w.stored is not None:
            before, shares[w.name] = shares.get(w.name), _route_shares(w.stored)
            if w.user == user and before is not None and before != shares[w.name]:
                return w
        elif w.user == user and w.resource in ("deployments", "services"):
            return w
    return None


def check_audit(audit: AuditLog, *, namespace: str, user: str) -> list[Request]:
    """The controller's writes in ``namespace``, after checking them on the real audit log:
    its first write that deploys or moves traffic belongs to a pass whose status write
    records a passed verification; every HTTPRoute write gives 100 % in all and weight only
    to Services whose Deployment the Deployment controller last reported available."""
    everything = audit.writes(namespace=namespace)
    available: dict[str, int] = {}
    for w in everything:
        if w.resource == "deployments" and w.subresource == "status" and w.stored is not None:
            available[w.name] = int(w.stored.get("status", {}).get("availableReplicas") or 0)
        if w.resource == "httproutes" and w.user == user and w.stored is not None:
            shares = _route_shares(w.stored)
            assert abs(sum(shares.values()) - 100) < 1e-9, shares
            for service in shares:  # Services are named after their Deployments
                assert available.get(service, 0) > 0, (service, shares, available)
    writes = [w for w in everything if w.user == user]
    change = _first_change(everything, user=user)
    if change is not None:
        # Effects are written first and the status last: the pass that verified the release
        # records the passed gates in its status write right after its first change.
        after = writes[writes.index(change) :]
        record = next((w for w in after if w.resource == "modelrollouts"), None)
        assert record is not None, f"{change.resource} written, no status recorded after it"
        assert _verified(record), f"{change.resource} written before the gates passed"
    return writes


def check_fenced(
    audit: AuditLog,
    *,
    namespace: str,
    user: str,
    lease_duration: timedelta,
    by_agent: bool = True,
) -> list[Request]:
    """No write after a lost Lease, on the audit log: every write of ``user`` in
    ``namespace`` other than to the Lease comes from a replica (its User-Agent, see
    ``start_manager``) whose last accepted Lease write before it named that replica the
    holder and is younger than ``lease_duration``. With ``by_agent=False`` (one writer at a
    time, e.g. ``promote`` runs one after another) the last Lease write naming any holder
    counts. Returns the checked writes."""
    writes = audit.writes(namespace=namespace, user=user)
    renewed: dict[str, Request] = {}  # holder identity -> its last accepted Lease write
    checked = []
    for w in writes:
        if w.resource == "leases":
            holder = ((w.stored or {}).get("spec") or {}).get("holderIdentity")
            key = holder if by_agent else ""
            if holder:
                renewed[key] = w
            else:  # released
                renewed.pop(w.agent if by_agent else "", None)
            continue
        if w.resource == "events":
            continue  # Events are not fenced (they change nothing)
        last = renewed.get(w.agent if by_agent else "")
        assert last is not None, f"{w.verb} {w.resource}/{w.name} by {w.agent!r} holding no Lease"
        age = w.at - last.at
        assert age <= lease_duration, (
            f"{w.verb} {w.resource}/{w.name} by {w.agent!r} {age} after its last renewal"
        )
        checked.append(w)
    return checked
