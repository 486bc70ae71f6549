"""AnalysisTemplates stored in the cluster drive a rollout when ``--templates`` is not given.

The controller command's analyst factory reads the rollout namespace's AnalysisTemplates
(over the ClusterAnalysisTemplates) from the real control plane, as the controller's
ServiceAccount with the shipped RBAC; the provider is a fake
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

from controlplane.fixtures import TestBed, open_bed
from controlplane.rollouts import check_audit
from controlplane.workloads import build_model
from mlrollout.binding import bind_metrics
from mlrollout.cli.controller import build_analyst_factory
from mlrollout.controller.kubernetes import build_reconciler
from mlrollout.controller.loop import drive
from mlrollout.errors import SpecError
from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import ANALYSISTEMPLATES, MODELROLLOUTS
from mlrollout.kube.rollouts import parse_stored
from mlrollout.kube.templates import read_templates
from mlrollout.spec.status import Phase
from support.cluster import BriskClock, SignedRegistry, create_rollout

pytestmark = pytest.mark.controlplane

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


def _rollout(kube: KubeClient, namespace: str, registry: SignedRegistry) -> None:
    raw = create_rollout(kube, registry.image, namespace=namespace)
    raw["spec"]["analysis"]["templates"] = [{"name": "errors"}]
    kube.replace(MODELROLLOUTS, raw)


@pytest.mark.slow
def test_a_template_in_the_cluster_drives_a_rollout_to_succeeded(
    cp: TestBed, registry: SignedRegistry
) -> None:
    build_model(cp.admin, cp.namespace)
    _apply_errors_template(cp.admin, cp.namespace)
    _rollout(cp.admin, cp.namespace, registry)
    controller = cp.controller_client()
    clock = BriskClock()
    provider = CountingProvider(ratio=1.0)
    analyst_for = build_analyst_factory(
        controller, None, now=clock.now, provider_for=lambda rollout: provider
    )
    rollout = parse_stored(controller.get(MODELROLLOUTS, "fraud-scorer", cp.namespace)).rollout
    reconciler = build_reconciler(
        controller,
        namespace=cp.namespace,
        name="fraud-scorer",
        analyst=analyst_for(rollout),
        clock=clock,
        registry_factory=registry.client,
    )
    final = drive(reconciler, timeout=timedelta(hours=3))
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    # Every measurement was of the metric the cluster's template declares.
    assert provider.requests
    assert {name for name, _ in provider.requests} == {"error-rate"}
    check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)


def test_without_the_template_the_rollout_is_refused_naming_it(
    cp: TestBed, registry: SignedRegistry, tmp_path: Path
) -> None:
    build_model(cp.admin, cp.namespace)
    _rollout(cp.admin, cp.namespace, registry)
    controller = cp.controller_client()
    assert read_templates(controller, cp.namespace) == {}
    with open_bed(cp.session, f"{cp.namespace}-other", tmp_path / "other") as other:
        _apply_errors_template(cp.admin, other.namespace)
        assert read_templates(controller, cp.namespace) == {}
        assert list(read_templates(cp.admin, other.namespace)) == ["errors"]
    stored = controller.get(MODELROLLOUTS, "fraud-scorer", cp.namespace)
    rollout = parse_stored(stored).rollout
    analyst = build_analyst_factory(
        controller, None, now=BriskClock().now, provider_for=lambda r: CountingProvider(1.0)
    )(rollout)
    assert analyst is not None
    library = read_templates(controller, cp.namespace)
    with pytest.raises(SpecError, match="errors"):
        bind_metrics(rollout, library)
