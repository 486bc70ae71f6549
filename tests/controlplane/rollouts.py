"""Driving a rollout with the controller's own code on the real control plane, and the
invariants its audit log must satisfy.

Part of the ``controlplane`` test package. ``reconciler`` builds the controller's
Kubernetes platform (``controller.kubernetes.build_reconciler``) over whatever client the
test gives it (usually the ServiceAccount-token client of ``fixtures.TestBed``), with a
scripted analyst and a fake signed registry; ``check_audit`` reads the API server's audit
log for what the controller wrote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mlrollout.controller import AnalysisLook
from mlrollout.controller.gating import KubeReleaseVerifier
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import SETTLED, Reconciler, drive
from mlrollout.kube import KubeClient, StoredRollout
from mlrollout.traffic.split import TOTAL_BASIS_POINTS
from support.cluster import BriskClock, SignedRegistry

from .audit import AuditLog, Request

__all__ = ["ScriptAnalyst", "check_audit", "reconciler", "run_rollout", "settled"]


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
            decision=self.script(step), reason=f"scripted at step {step}", step=step, record={}
        )


def reconciler(
    client: KubeClient,
    namespace: str,
    registry: SignedRegistry,
    *,
    script: Callable[[int], str] = lambda step: "promote",
) -> Reconciler:
    """The controller's reconciler for ``fraud-scorer`` in ``namespace`` through ``client``."""
    built = build_reconciler(
        client,
        namespace=namespace,
        name="fraud-scorer",
        analyst=ScriptAnalyst(script),
        clock=BriskClock(),
    )
    built.verifier = KubeReleaseVerifier(client, registry_factory=registry.client)
    return built


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


def settled(stored: StoredRollout) -> bool:
    """Finished, and the old environment scaled down."""
    return stored.status.phase in SETTLED and stored.status.scale_down is None


def _verified(write: Request) -> bool:
    status: dict[str, Any] = (write.stored or {}).get("status") or {}
    verification = status.get("verification") or {}
    return bool(verification.get("verified"))


def _route_weights(route: dict[str, Any]) -> dict[str, int]:
    rule = (route.get("spec") or {}).get("rules", [{}])[0]
    return {ref["name"]: int(ref.get("weight", 1)) for ref in rule.get("backendRefs") or []}


def check_audit(audit: AuditLog, *, namespace: str, user: str) -> list[Request]:
    """The controller's writes in ``namespace``, after checking them on the real audit log:
    no Deployment, Service or HTTPRoute written before a status write recorded a passed
    verification; every HTTPRoute write's weights sum to 100 % and give weight only to a
    Deployment the Deployment controller last reported with available replicas."""
    everything = audit.writes(namespace=namespace)
    available: dict[str, int] = {}
    for w in everything:
        if w.resource == "deployments" and w.subresource == "status" and w.stored is not None:
            available[w.name] = int(w.stored.get("status", {}).get("availableReplicas") or 0)
        if w.resource == "httproutes" and w.user == user and w.stored is not None:
            weights = _route_weights(w.stored)
            assert sum(weights.values()) in (100, TOTAL_BASIS_POINTS), weights
            for service, weight in weights.items():
                # Services are named after their Deployments (fraud-scorer-blue/-green).
                assert weight == 0 or available.get(service, 0) > 0, (service, weights)
    writes = [w for w in everything if w.user == user]
    gated = ("deployments", "services", "httproutes")
    first_change = next((i for i, w in enumerate(writes) if w.resource in gated), None)
    if first_change is not None:
        passed = [
            i
            for i, w in enumerate(writes[:first_change])
            if w.resource == "modelrollouts" and _verified(w)
        ]
        assert passed, f"{writes[first_change].resource} written before the gates passed"
    return writes
