"""The in-cluster controller and ``mlrollout promote`` converge through the fault proxy
(``faults``) on the real control plane: conflicts, throttling, server errors, connection
resets, delays, watch drops and a lost Lease. Each run is checked on the real audit log:
weights sum to 100 and go only to ready environments, nothing changes before the gates
pass, no write after a lost Lease, and the rollout reaches its terminal phase."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mlrollout.kube import LeaseSettings, StoredRollout
from mlrollout.kube.kinds import DEPLOYMENTS
from mlrollout.spec.status import Phase
from support.cluster import SignedRegistry

from .fixtures import TestBed
from .promote import (
    check_promoted,
    create_promote_rollout,
    promote_env,
    run_promote,
)
from .rollouts import (
    FAST_LEASE,
    check_audit,
    check_fenced,
    model_rollout,
    read_rollout,
    start_manager,
    wait_for,
)
from .workloads import build_model

pytestmark = pytest.mark.controlplane

# Each fault, as a proxy rule (see ``faults.Rule``), and what the controller must do about it.
FAULTS: dict[str, dict[str, Any]] = {
    # a conflict on the status write: re-read, recompute, write again
    "409-status": {"path": r"/modelrollouts/fraud-scorer/status$", "status": 409, "times": 3},
    # throttling on the route: wait what Retry-After says, then write
    "429-route": {"path": r"/httproutes/", "status": 429, "retry_after": 1, "times": 3},
    # server errors on Deployment writes and reads, every other one
    "500-deployments": {
        "path": r"/deployments",
        "status": 500,
        "probability": 0.5,
        "times": 4,
        "nth": 2,
    },
    # connection resets on any request, one in ten
    "reset": {"reset": True, "probability": 0.1, "times": 6, "nth": 3},
    # a slow API server: a third of the requests 0.3 s late
    "delay": {"delay": 0.3, "probability": 0.3, "times": None},
    # every watch cut after its first event: the manager lists and watches again
    "watch-drop": {"path": r"watch=true", "drop_after": 1, "times": None},
}


# A Lease long enough that slow or failed answers alone cannot expire it, for the tests about
# converging through a fault (under CI load, resets and delays expired the 3 s test Lease and
# the manager correctly stopped); losing the Lease has its own test below.
FAULT_LEASE_SECONDS = 15
FAULT_LEASE = LeaseSettings(
    lease_duration=timedelta(seconds=FAULT_LEASE_SECONDS),
    renew_deadline=timedelta(seconds=10),
    retry_period=FAST_LEASE.retry_period,
)


def _terminal(stored: StoredRollout) -> bool:
    # (The manager requeues in real time: the old environment's scale-down after its warm
    # window is not awaited.)
    return stored.status.phase.terminal


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


def _check(cp: TestBed, lease: LeaseSettings = FAST_LEASE) -> None:
    """The audit-log invariants of a finished rollout driven under ``lease``."""
    check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)
    check_fenced(
        cp.audit,
        namespace=cp.namespace,
        user=cp.controller_user,
        lease_duration=lease.lease_duration,
    )


@pytest.mark.parametrize("fault", list(FAULTS))
def test_controller_converges_through_the_fault(
    cp: TestBed, registry: SignedRegistry, fault: str
) -> None:
    proxy = cp.fault_proxy(seed=13)
    rule = proxy.add(**FAULTS[fault])
    model_rollout(cp.admin, cp.namespace, registry)
    running = start_manager(
        cp.controller_client(through=proxy), cp.namespace, registry, lease=FAULT_LEASE
    )
    try:
        final = wait_for(lambda: read_rollout(cp.admin, cp.namespace), _terminal, timeout=120)
    finally:
        running.stop()
    assert rule.fired > 0, f"{fault}: the rule never fired ({rule.matched} matches)"
    assert proxy.forwarded > 0
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    assert cp.admin.get(DEPLOYMENTS, "fraud-scorer-green", cp.namespace)["spec"]["replicas"] == 4
    _check(cp, FAULT_LEASE)


def test_a_leader_that_loses_its_lease_stops_writing_and_a_successor_finishes(
    cp: TestBed, registry: SignedRegistry
) -> None:
    proxy = cp.fault_proxy()
    model_rollout(cp.admin, cp.namespace, registry)
    first = start_manager(
        cp.controller_client(through=proxy), cp.namespace, registry, identity="replica-a"
    )
    try:
        wait_for(
            lambda: read_rollout(cp.admin, cp.namespace),
            lambda s: s.status.phase is Phase.PROGRESSING and (s.status.current_step or 0) >= 1,
            timeout=60,
        )
        # The API server stops answering replica-a's Lease renewals (and only those).
        proxy.add(path=r"/leases/", status=500, times=None)
        first.thread.join(30)
        assert not first.thread.is_alive(), "replica-a kept running without its Lease"
        assert first.codes == [1]  # exits 1: its pod restarts and stands by
        assert not first.manager.leading
    finally:
        first.stop()
    proxy.clear()
    second = start_manager(cp.controller_client(), cp.namespace, registry, identity="replica-b")
    try:
        final = wait_for(lambda: read_rollout(cp.admin, cp.namespace), _terminal, timeout=120)
    finally:
        second.stop()
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    writers = {w.agent for w in cp.audit.writes(namespace=cp.namespace, user=cp.controller_user)}
    assert {"replica-a", "replica-b"} <= writers
    _check(cp)


# The same faults in front of ``mlrollout promote`` (the replicas router: Deployment writes).
PROMOTE_FAULTS: dict[str, dict[str, Any]] = {
    "409-status": FAULTS["409-status"],
    "429-deployments": {"path": r"/deployments/", "status": 429, "retry_after": 1, "times": 2},
    "500-deployments": FAULTS["500-deployments"],
    "reset": FAULTS["reset"],
    "delay": FAULTS["delay"],
}


@pytest.mark.parametrize("fault", list(PROMOTE_FAULTS))
def test_promote_converges_through_the_fault(cp: TestBed, fault: str) -> None:
    proxy = cp.fault_proxy(seed=13)
    rule = proxy.add(**PROMOTE_FAULTS[fault])
    build_model(cp.admin, cp.namespace)
    create_promote_rollout(cp.admin, cp.namespace)
    env = promote_env(cp.controller_kubeconfig(through=proxy))
    env["MLROLLOUT_LEASE_SECONDS"] = str(FAULT_LEASE_SECONDS)
    done = run_promote(cp.namespace, env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["status"]["phase"] == "Succeeded"
    assert rule.fired > 0, f"{fault}: the rule never fired ({rule.matched} matches)"
    check_promoted(
        cp.audit, cp.namespace, user=cp.controller_user, lease_seconds=FAULT_LEASE_SECONDS
    )
