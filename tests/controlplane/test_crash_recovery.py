"""SIGKILL of ``mlrollout promote`` at every named crash point on the real control plane: run
again, the rollout reaches the right end without skipping a step, and the audit log holds
the invariants (weights, gates, no write after a lost Lease). Also: with its metrics
provider unreachable, a rollout is never promoted."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from mlrollout.controller.effects import CRASH_POINTS
from mlrollout.kube.kinds import DEPLOYMENTS
from mlrollout.spec.status import Phase

from .fixtures import TestBed
from .processes import free_port
from .promote import (
    canary_shares,
    check_promoted,
    create_promote_rollout,
    promote_env,
    run_promote,
)
from .rollouts import check_audit, read_rollout
from .workloads import build_model

pytestmark = [pytest.mark.controlplane, pytest.mark.slow]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_sigkill_at_a_crash_point_then_resume(cp: TestBed, tmp_path: Path, point: str) -> None:
    build_model(cp.admin, cp.namespace)
    create_promote_rollout(cp.admin, cp.namespace)
    kubeconfig = cp.controller_kubeconfig()
    # Deploy and scale happen once in this flow; the other points are passed many times (the
    # status points once per status write: a pass that changes nothing writes none).
    hit = 1 if point.endswith("scale") else 2
    killed = run_promote(cp.namespace, promote_env(kubeconfig, MLROLLOUT_CRASH_AT=f"{point}:{hit}"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    landed = read_rollout(cp.admin, cp.namespace).status.phase
    assert landed is not Phase.PENDING, landed  # killed mid-rollout: started, not ended
    assert not landed.terminal, landed
    resumed = run_promote(cp.namespace, promote_env(kubeconfig))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout)["status"]["phase"] == "Succeeded"
    assert cp.admin.get(DEPLOYMENTS, "fraud-scorer-green", cp.namespace)["spec"]["replicas"] == 4
    check_promoted(cp.audit, cp.namespace, user=cp.controller_user)


def test_an_unreachable_metrics_provider_never_promotes(cp: TestBed) -> None:
    build_model(cp.admin, cp.namespace)
    create_promote_rollout(cp.admin, cp.namespace, analysis=True)
    dead = f"http://127.0.0.1:{free_port()}"
    env = promote_env(cp.controller_kubeconfig(), MLROLLOUT_PROMETHEUS_URL=dead)
    result = run_promote(cp.namespace, env)
    document = json.loads(result.stdout)
    assert result.returncode == 1, result.stderr[-2000:]
    assert document["status"]["phase"] == "RolledBack"
    assert "rror" in document["status"]["message"]
    assert canary_shares(cp.audit, cp.namespace, user=cp.controller_user)[-1] == 0
    check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)
