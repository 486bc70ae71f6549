"""``mlrollout promote`` as a subprocess against the real control plane.

Part of the ``controlplane`` test package. ``create_promote_rollout`` creates a canary
ModelRollout in a test's namespace (GPU-capacity gate, setWeight steps; with ``analysis``
the shipped error-rate template); ``run_promote`` runs the CLI on it by name with a
kubeconfig (usually the controller's ServiceAccount token, directly or through the fault
proxy) and a short Lease; ``canary_shares`` reads the candidate's share of the replicas from
the audit log.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import MODELROLLOUTS
from support.cluster import rollout_from

from .audit import AuditLog
from .processes import die_with_parent
from .rollouts import check_audit, check_fenced

__all__ = [
    "NEW",
    "canary_shares",
    "check_promoted",
    "create_promote_rollout",
    "promote_argv",
    "promote_env",
    "run_promote",
]

ROOT = Path(__file__).resolve().parents[2]
NEW = "registry.test/ml/fraud-scorer@sha256:" + "e" * 64
LEASE_SECONDS = 2


def create_promote_rollout(admin: KubeClient, namespace: str, *, analysis: bool = False) -> None:
    """Create the rollout of ``NEW`` in ``namespace`` (as an operator would: the controller's
    ServiceAccount, which ``promote`` runs as, may not create rollouts)."""
    raw = rollout_from("canary.yaml")
    raw["metadata"]["namespace"] = namespace
    spec = raw["spec"]
    for key in ("webhooks", "notifications", "metrics", "analysis"):
        spec.pop(key, None)
    spec["release"]["image"] = NEW
    spec["gates"] = {"gpuCapacity": True}
    steps: list[dict[str, Any]] = [{"setWeight": 25}, {"setWeight": 50}]
    if analysis:  # the shipped error-rate template every 2 s, rolled back after 3 errors
        steps = [{"setWeight": 25}, {"analyze": {"maxDuration": "5m"}}]
        spec["analysis"] = {
            "templates": [{"name": "errors"}],
            "interval": "2s",
            "consecutiveErrorLimit": 3,
            "onErrorLimit": "rollback",
        }
    spec["strategy"]["canary"]["steps"] = steps
    admin.create(MODELROLLOUTS, raw, namespace)


def promote_env(kubeconfig: Path, **more: str) -> dict[str, str]:
    """The environment of a ``promote`` run: this one without MLROLLOUT_* settings, with the
    tests' short Lease unless ``more`` sets another."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLROLLOUT_")}
    env.update(KUBECONFIG=str(kubeconfig), MLROLLOUT_LEASE_SECONDS=str(LEASE_SECONDS))
    env.update(more)  # may set another Lease
    return env


def promote_argv(namespace: str, *extra: str) -> list[str]:
    """The command line of ``mlrollout promote fraud-scorer -n namespace -o json``."""
    return [
        sys.executable,
        "-m",
        "mlrollout",
        "promote",
        "fraud-scorer",
        "--namespace",
        namespace,
        "-o",
        "json",
        "--timeout",
        "3m",  # a later --timeout in ``extra`` wins
        "--templates",
        str(ROOT / "analyses"),
        *extra,
    ]


def run_promote(
    namespace: str, env: dict[str, str], *extra: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run ``promote`` to its end."""
    return subprocess.run(
        promote_argv(namespace, *extra),
        env=env,
        preexec_fn=die_with_parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def canary_shares(audit: AuditLog, namespace: str, *, user: str) -> list[float]:
    """The candidate's share (%) of the replicas after each of ``user``'s Deployment writes,
    repeats folded."""
    replicas = {"fraud-scorer-blue": 4, "fraud-scorer-green": 0}
    shares: list[float] = []
    for w in audit.writes(namespace=namespace, user=user, resource="deployments"):
        body: dict[str, Any] = w.stored or {}
        if w.subresource in ("", "scale") and "spec" in body:
            replicas[w.name] = int(body["spec"].get("replicas") or 0)
        total = sum(replicas.values())
        share = round(100 * replicas["fraud-scorer-green"] / total) if total else 0
        if not shares or shares[-1] != share:
            shares.append(share)
    return shares


def check_promoted(
    audit: AuditLog, namespace: str, *, user: str, lease_seconds: float = LEASE_SECONDS
) -> None:
    """A release ``promote`` ran as ``user``, on the audit log: every step 25 -> 50 -> 100 %
    of the replicas in order and never backwards, the write invariants (``check_audit``) and
    no write after a lost Lease (``promote``'s short Lease, one run at a time)."""
    shares = canary_shares(audit, namespace, user=user)
    assert [s for s in shares if s in (25, 50, 100)] == [25, 50, 100], shares
    assert shares == sorted(shares), shares  # no step skipped, never backwards
    check_audit(audit, namespace=namespace, user=user)
    check_fenced(
        audit,
        namespace=namespace,
        user=user,
        lease_duration=timedelta(seconds=lease_seconds),
        by_agent=False,
    )
