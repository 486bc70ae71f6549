"""``kubectl apply -k examples/deploy``, dry-run on the real control plane: the API server
validates, defaults and admits every object (the CRDs' schemas, the Gateway API HTTPRoute,
RBAC, Pod Security) and persists nothing. The two namespaces are mapped onto the test's own;
the pods of every Deployment are dry-run created too, so the namespace's enforced
restricted Pod Security Standard judges them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
import yaml

from controlplane.fixtures import TestBed

from .dryrun import apply_dry_run, kubectl, map_namespaces
from .manifests import DEPLOY, of_kind, require_kubectl

pytestmark = pytest.mark.controlplane


@pytest.fixture(autouse=True)
def _kubectl() -> None:
    require_kubectl()


@pytest.fixture
def namespaces(cp: TestBed) -> Iterator[dict[str, str]]:
    """The shipped namespaces mapped onto test namespaces (restricted Pod Security)."""
    core = kubernetes.client.CoreV1Api(cp.api)
    system = f"{cp.namespace}-sys"
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    core.create_namespace({"metadata": {"name": system, "labels": labels}})
    try:
        yield {"mlrollout-system": system, "ml-prod": cp.namespace}
    finally:
        core.delete_namespace(system)


def _rendered(cp: TestBed, mapping: dict[str, str]) -> list[dict[str, Any]]:
    """``kubectl kustomize examples/deploy`` with the namespaces mapped."""
    done = kubectl(cp, "kustomize", str(DEPLOY))
    assert done.returncode == 0, done.stderr
    return map_namespaces([d for d in yaml.safe_load_all(done.stdout) if d], mapping)


def test_every_deploy_object_passes_a_server_side_dry_run(
    cp: TestBed, namespaces: dict[str, str]
) -> None:
    docs = _rendered(cp, namespaces)
    done = apply_dry_run(cp, docs)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr  # e.g. "would violate PodSecurity"
    applied = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(applied) == len(docs), done.stdout
    assert all(line.endswith("serverside-applied (server dry run)") for line in applied)
    # Nothing was persisted.
    apps = kubernetes.client.AppsV1Api(cp.api)
    assert apps.list_namespaced_deployment(cp.namespace).items == []
    assert apps.list_namespaced_deployment(namespaces["mlrollout-system"]).items == []


def test_a_broken_object_fails_the_dry_run(cp: TestBed, namespaces: dict[str, str]) -> None:
    docs = _rendered(cp, namespaces)
    [rollout] = of_kind(docs, "ModelRollout")
    rollout["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = 120
    done = apply_dry_run(cp, [rollout])
    assert done.returncode != 0
    assert "setWeight" in done.stderr


def _pod(deployment: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(deployment["spec"]["template"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{deployment['metadata']['name']}-dry-run", **template["metadata"]},
        "spec": template["spec"],
    }


def test_every_deploy_pod_is_admitted_under_restricted_pod_security(
    cp: TestBed, namespaces: dict[str, str]
) -> None:
    core = kubernetes.client.CoreV1Api(cp.api)
    docs = _rendered(cp, namespaces)
    # The ServiceAccount admission plugin wants the pods' ServiceAccounts to exist.
    for account in of_kind(docs, "ServiceAccount"):
        core.create_namespaced_service_account(account["metadata"]["namespace"], account)
    deployments = of_kind(docs, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {
        "mlrollout-controller",
        "fraud-scorer-blue",
        "fraud-scorer-green",
    }
    for deployment in deployments:
        namespace = deployment["metadata"]["namespace"]
        core.create_namespaced_pod(namespace, _pod(deployment), dry_run="All")
    # The same pod without its seccomp profile is refused: the namespace does enforce.
    weakened = _pod(deployments[0])
    del weakened["spec"]["securityContext"]["seccompProfile"]
    with pytest.raises(kubernetes.client.ApiException) as refused:
        core.create_namespaced_pod(deployments[0]["metadata"]["namespace"], weakened, dry_run="All")
    assert refused.value.status == 403
    assert "violates PodSecurity" in refused.value.body
    assert core.list_namespaced_pod(cp.namespace).items == []
