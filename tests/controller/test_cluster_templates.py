"""AnalysisTemplates stored in the cluster drive a rollout when ``--templates`` is not given.

The controller command's analyst factory reads the rollout namespace's AnalysisTemplates
(over the ClusterAnalysisTemplates) from the strict test API server; the provider is a fake
with equal error rates, so the errors template promotes every analysis step once its error
rate is a gate (the shipped template makes it a guard, which can only roll back or hold: an
analysis with no gate is never promoted by the judge, docs/statistics.md).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from metric_fakes import CountingProvider

from kubeapi import KubeApiServer
from mlrollout.binding import bind_metrics
from mlrollout.cli.controller import build_analyst_factory
from mlrollout.controller.gating import KubeReleaseVerifier
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.errors import SpecError
from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import ANALYSISTEMPLATES, MODELROLLOUTS
from mlrollout.kube.rollouts import parse_stored
from mlrollout.kube.templates import read_templates
from mlrollout.spec.status import Phase
from support.cluster import BriskClock, SignedRegistry, build_cluster, create_rollout

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


def _apply_errors_template(kube: KubeClient, namespace: str) -> None:
    template = yaml.safe_load((ROOT / "analyses" / "errors.yaml").read_text())
    template["metadata"]["namespace"] = namespace
    [metric] = template["spec"]["metrics"]
    metric["role"] = "gate"  # the documented opt-in; the shipped default is a guard
    kube.create(ANALYSISTEMPLATES, template, namespace)


def _rollout(kube: KubeClient, registry: SignedRegistry) -> None:
    raw = create_rollout(kube, registry.image)
    raw["spec"]["analysis"]["templates"] = [{"name": "errors"}]
    kube.replace(MODELROLLOUTS, raw)


@pytest.mark.slow
def test_a_template_in_the_cluster_drives_a_rollout_to_succeeded(
    kube: KubeClient, kube_server: KubeApiServer, registry: SignedRegistry
) -> None:
    build_cluster(kube)
    _apply_errors_template(kube, "default")
    _rollout(kube, registry)
    clock = BriskClock()
    provider = CountingProvider(ratio=1.0)
    analyst_for = build_analyst_factory(
        kube, None, now=clock.now, provider_for=lambda rollout: provider
    )
    rollout = parse_stored(kube.get(MODELROLLOUTS, "fraud-scorer", "default")).rollout
    reconciler = build_reconciler(
        kube, namespace="default", name="fraud-scorer", analyst=analyst_for(rollout), clock=clock
    )
    reconciler.verifier = KubeReleaseVerifier(kube, registry_factory=registry.client)
    final = drive(reconciler, timeout=timedelta(hours=3))
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    # Every measurement was of the metric the cluster's template declares.
    assert provider.requests
    assert {name for name, _ in provider.requests} == {"error-rate"}


def test_without_the_template_the_rollout_is_refused_naming_it(
    kube: KubeClient, kube_server: KubeApiServer, registry: SignedRegistry
) -> None:
    build_cluster(kube)
    _rollout(kube, registry)
    assert read_templates(kube, "default") == {}
    _apply_errors_template(kube, "other")
    assert read_templates(kube, "default") == {}
    assert list(read_templates(kube, "other")) == ["errors"]
    rollout = parse_stored(kube.get(MODELROLLOUTS, "fraud-scorer", "default")).rollout
    analyst = build_analyst_factory(
        kube, None, now=BriskClock().now, provider_for=lambda r: CountingProvider(1.0)
    )(rollout)
    assert analyst is not None
    library = read_templates(kube, "default")
    with pytest.raises(SpecError, match="errors"):
        bind_metrics(rollout, library)
