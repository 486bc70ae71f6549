"""The in-cluster manager on the real control plane: one leader drives a rollout to the end
and a standby takes over when it goes; ``promote`` follows a running controller instead of
driving the rollout itself. (Its health endpoints and work queue need no API server:
``tests/controller/test_manager.py``; a lost Lease: ``test_faults.py``.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrollout.kube.kinds import LEASES
from mlrollout.spec.status import Phase
from support.cluster import SignedRegistry

from .fixtures import TestBed
from .promote import create_promote_rollout, promote_env, run_promote
from .rollouts import model_rollout, read_rollout, start_manager, wait_for
from .workloads import build_model, wait_until

pytestmark = pytest.mark.controlplane


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


def _holder(cp: TestBed) -> str:
    lease = cp.admin.get(LEASES, "mlrollout-controller", cp.namespace)
    return str(lease["spec"].get("holderIdentity") or "")


def test_one_leader_drives_the_rollout_and_a_standby_takes_over(
    cp: TestBed, registry: SignedRegistry
) -> None:
    first = start_manager(cp.controller_client(), cp.namespace, registry, identity="a")
    wait_until(lambda: first.manager.leading, what="a leads")
    second = start_manager(cp.controller_client(), cp.namespace, registry, identity="b")
    try:
        model_rollout(cp.admin, cp.namespace, registry, router="replicas")
        final = wait_for(
            lambda: read_rollout(cp.admin, cp.namespace),
            lambda s: s.status.phase.terminal,
            timeout=120,
        )
        assert final.status.phase is Phase.SUCCEEDED, final.status.message
        assert not second.manager.leading
        assert _holder(cp) == "a"
        first.stop()
        assert first.codes == [0]  # a clean stop releases the Lease
        wait_until(lambda: second.manager.leading, what="b takes over", timeout=15)
        assert _holder(cp) == "b"
    finally:
        first.stop()
        second.stop()
    writers = {w.agent for w in cp.audit.writes(namespace=cp.namespace, user=cp.controller_user)}
    assert "b" in writers
    # Until a released the Lease, the standby wrote nothing but its Lease (it may then settle the
    # rollout as the new leader).
    writes = cp.audit.writes(namespace=cp.namespace)
    released = max(w.timestamp for w in writes if w.agent == "a" and w.resource == "leases")
    standby = {w.resource for w in writes if w.agent == "b" and w.timestamp <= released}
    assert standby <= {"leases"}


def test_promote_follows_a_running_controller(cp: TestBed, registry: SignedRegistry) -> None:
    build_model(cp.admin, cp.namespace)
    running = start_manager(cp.controller_client(), cp.namespace, registry, identity="in-cluster")
    try:
        wait_until(lambda: running.manager.leading, what="the controller leads")
        create_promote_rollout(cp.admin, cp.namespace)
        done = run_promote(cp.namespace, promote_env(cp.controller_kubeconfig()))
        assert done.returncode == 0, done.stderr[-2000:]
        document = json.loads(done.stdout)
        assert document["drivenBy"] == "the in-cluster controller"
        assert document["status"]["phase"] == "Succeeded"
        assert _holder(cp) == "in-cluster"
    finally:
        running.stop()
