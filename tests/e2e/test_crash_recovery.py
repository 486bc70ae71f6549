"""SIGKILL at every named crash point: ``mlrollout promote`` as a subprocess is killed, then
run again, and the rollout still reaches the right end without skipping a step.

Also: with its metrics provider unreachable, a rollout is never promoted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubeapi import KubeApiServer, assert_valid_history, write_kubeconfig
from mlrollout.controller.effects import CRASH_POINTS
from mlrollout.kube import KubeClient
from support.cluster import build_cluster, rollout_from
from support.prometheus import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NEW = "registry.test/ml/fraud-scorer@sha256:" + "e" * 64


def _rollout_file(tmp_path: Path, *, analysis: bool = False) -> Path:
    raw = rollout_from("canary.yaml")
    raw["metadata"]["namespace"] = "default"
    spec = raw["spec"]
    for key in ("webhooks", "notifications", "metrics"):
        spec.pop(key, None)
    spec["release"]["image"] = NEW
    spec["gates"] = {"gpuCapacity": True}
    steps: list[dict[str, object]] = [{"setWeight": 25}, {"setWeight": 50}]
    if analysis:
        steps = [{"setWeight": 25}, {"analyze": {"maxDuration": "5m"}}]
        spec["analysis"] = {
            "templates": [{"name": "errors"}],
            "interval": "2s",
            "consecutiveErrorLimit": 3,
            "onErrorLimit": "rollback",
        }
    else:
        spec.pop("analysis", None)
    spec["strategy"]["canary"]["steps"] = steps
    path = tmp_path / "rollout.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _promote(path: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mlrollout",
            "promote",
            str(path),
            "-o",
            "json",
            "--timeout",
            "3m",
            "--templates",
            str(root / "analyses"),
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _env(kube_server: KubeApiServer, tmp_path: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLROLLOUT_")}
    env.update(
        KUBECONFIG=str(write_kubeconfig(kube_server.url, tmp_path / "kubeconfig")),
        MLROLLOUT_LEASE_SECONDS="2",
        **more,
    )
    return env


def _canary_shares(kube_server: KubeApiServer) -> list[float]:
    replicas = {"fraud-scorer-blue": 4, "fraud-scorer-green": 0}
    shares: list[float] = []
    for record in kube_server.history.records(kind="Deployment", actor="client"):
        replicas[record.name] = record.object["spec"]["replicas"]
        total = sum(replicas.values())
        share = round(100 * replicas["fraud-scorer-green"] / total) if total else 0
        if not shares or shares[-1] != share:
            shares.append(share)
    return shares


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_sigkill_at_a_crash_point_then_resume(
    point: str, kube: KubeClient, kube_server: KubeApiServer, tmp_path: Path
) -> None:
    build_cluster(kube)
    path = _rollout_file(tmp_path)
    # Deploy and scale happen once in this flow; the other points are passed many times.
    hit = 1 if point.endswith("scale") else 2
    killed = _promote(path, _env(kube_server, tmp_path, MLROLLOUT_CRASH_AT=f"{point}:{hit}"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    resumed = _promote(path, _env(kube_server, tmp_path))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout)["status"]["phase"] == "Succeeded"
    shares = _canary_shares(kube_server)
    assert [s for s in shares if s in (25, 50, 100)] == [25, 50, 100]
    assert shares == sorted(shares)  # no step skipped, never backwards
    assert_valid_history(kube_server)


def test_an_unreachable_metrics_provider_never_promotes(
    kube: KubeClient, kube_server: KubeApiServer, tmp_path: Path
) -> None:
    build_cluster(kube)
    path = _rollout_file(tmp_path, analysis=True)
    dead = f"http://127.0.0.1:{free_port()}"
    result = _promote(path, _env(kube_server, tmp_path, MLROLLOUT_PROMETHEUS_URL=dead))
    document = json.loads(result.stdout)
    assert result.returncode == 1, result.stderr[-2000:]
    assert document["status"]["phase"] == "RolledBack"
    assert "rror" in document["status"]["message"]
    assert _canary_shares(kube_server)[-1] == 0
