"""The report ConfigMap is rewritten at the resourceVersion the controller wrote last (no read
per pass), and a write by someone else in between is read and replaced, not lost."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mlrollout.controller.gating import KubeReleaseVerifier
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.core.decision import Decision
from mlrollout.kube import KubeClient, StoredRollout
from mlrollout.kube.kinds import CONFIGMAPS, Kind
from mlrollout.report import decode_config_map
from mlrollout.spec.status import Phase
from support.cluster import BriskClock, SignedRegistry, build_cluster, create_rollout


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


def test_report_configmap_written_without_a_read_per_pass(
    kube: KubeClient, registry: SignedRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_cluster(kube)
    steps = [{"setWeight": 25}, {"setWeight": 50}]
    canary = {"traffic": {"router": "replicas"}, "capacity": "constant", "steps": steps}
    create_rollout(kube, registry.image, strategy={"canary": canary})
    verbs: list[str] = []
    real_get, real_replace = kube.get, kube.replace

    def get(kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any]:
        if kind is CONFIGMAPS:
            verbs.append("get")
        return real_get(kind, name, namespace)

    def replace(kind: Kind, obj: dict[str, Any], *, status: bool = False) -> dict[str, Any]:
        if kind is CONFIGMAPS:
            verbs.append("replace")
        return real_replace(kind, obj, status=status)

    monkeypatch.setattr(kube, "get", get)
    monkeypatch.setattr(kube, "replace", replace)
    clock = BriskClock()
    reconciler = build_reconciler(kube, namespace="default", name="fraud-scorer", clock=clock)
    reconciler.verifier = KubeReleaseVerifier(kube, registry_factory=registry.client)
    touched: list[str] = []

    def touch_once(stored: StoredRollout, decision: Decision) -> None:
        """Someone else writes the ConfigMap once, after the controller rewrote it."""
        reference = stored.status.report
        if touched or reference is None or verbs.count("replace") < 2:
            return
        foreign = real_get(CONFIGMAPS, reference.config_map, "default")
        foreign["metadata"].setdefault("labels", {})["touched-by"] = "someone-else"
        real_replace(CONFIGMAPS, foreign)
        touched.append(reference.config_map)

    final = drive(
        reconciler,
        timeout=timedelta(hours=2),
        until=lambda s: s.status.phase is Phase.SUCCEEDED,
        on_pass=touch_once,
    )
    assert touched, "the ConfigMap was never rewritten twice"
    replaces = verbs.count("replace")
    # One read when the record does not exist yet, one after the foreign write's 409.
    assert verbs.count("get") == 2, verbs
    assert replaces >= 4, verbs
    reference = final.status.report
    assert reference is not None
    stored = real_get(CONFIGMAPS, reference.config_map, "default")
    record = decode_config_map(stored)
    assert [p.canary_weight for p in record.traffic][:2] == [25.0, 50.0]
    assert final.status.report == reference
