"""Least privilege, enforced by a real kube-apiserver: the controller's kube layer runs with a
ServiceAccount token bound only to ``examples/deploy/rbac.yaml``; a whole rollout succeeds
with exactly that, every rule is needed, and Secrets stay out of reach."""

from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes
import pytest

from mlrollout.kube import LeaseLock, StoredRollout
from mlrollout.kube.kinds import DEPLOYMENTS, MODELROLLOUTS
from mlrollout.kube.rollouts import parse_stored
from mlrollout.spec.status import Phase
from support.cluster import SignedRegistry

from .fixtures import TestBed
from .rbac import RuleRef, load_rbac, shipped_rules
from .rollouts import check_audit, model_rollout, run_manager, run_rollout

pytestmark = pytest.mark.controlplane


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SignedRegistry:
    monkeypatch.setenv("MLROLLOUT_SECRETS_DIR", str(tmp_path / "secrets"))
    return SignedRegistry(tmp_path / "secrets")


def test_shipped_rbac_has_no_wildcards_and_no_secrets() -> None:
    for ref, rule in shipped_rules():
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"{ref}: wildcard in {field}"
        assert not {"secrets", "serviceaccounts/token"} & set(rule["resources"]), str(ref)
    kinds = [d["kind"] for d in load_rbac()]
    assert kinds.count("ServiceAccount") == 1


def _model(cp: TestBed, registry: SignedRegistry, router: str) -> None:
    model_rollout(cp.admin, cp.namespace, registry, router=router)


@pytest.mark.parametrize(
    ("router", "written"),
    [
        pytest.param("replicas", set(), id="replicas"),
        pytest.param("gateway-api", {("httproutes", "")}, id="gateway-api"),
    ],
)
def test_whole_rollout_succeeds_with_exactly_the_shipped_rbac(
    cp: TestBed, registry: SignedRegistry, router: str, written: set[tuple[str, str]]
) -> None:
    _model(cp, registry, router)
    client = cp.controller_client()
    final = run_rollout(client, cp.namespace, registry)
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    green = cp.admin.get(DEPLOYMENTS, "fraud-scorer-green", cp.namespace)
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == registry.image
    assert green["spec"]["replicas"] == 4
    assert cp.admin.get(DEPLOYMENTS, "fraud-scorer-blue", cp.namespace)["spec"]["replicas"] == 0
    # Every request the controller made was allowed, and it wrote only what the rollout needs.
    requests = cp.audit.requests(user=cp.controller_user)
    assert requests, "the audit log recorded none of the controller's requests"
    # (A 404 is an answer, not a refusal: the report record is read before it is created.)
    refused = [(r.verb, r.resource, r.code) for r in requests if r.code in (401, 403)]
    assert refused == []
    writes = check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)
    assert {(w.resource, w.subresource) for w in writes} == {
        ("modelrollouts", "status"),
        ("deployments", ""),
        ("events", ""),
        ("configmaps", ""),  # the run's report record
    } | written


def test_in_cluster_manager_runs_a_whole_rollout_with_the_shipped_rbac(
    cp: TestBed, registry: SignedRegistry
) -> None:
    # The manager elects itself on the Lease, watches, queues and reconciles in real time.
    _model(cp, registry, "replicas")
    final = run_manager(
        cp.controller_client(),
        cp.namespace,
        registry,
        read=lambda: _read(cp),
        until=lambda s: s.status.phase.terminal,
    )
    assert final.status.phase is Phase.SUCCEEDED, final.status.message
    requests = cp.audit.requests(user=cp.controller_user)
    assert [(r.verb, r.resource) for r in requests if r.code == 403] == []
    assert {"leases", "modelrollouts", "deployments"} <= {r.resource for r in requests}
    check_audit(cp.audit, namespace=cp.namespace, user=cp.controller_user)


def test_controller_holds_and_renews_its_lease_with_the_shipped_rbac(cp: TestBed) -> None:
    client = cp.controller_client()
    lock = LeaseLock(client, name="mlrollout-controller", namespace=cp.namespace, identity="a")
    assert [lock.try_acquire_or_renew() for _ in range(3)] == [True, True, True]
    leases = cp.audit.writes(namespace=cp.namespace, user=cp.controller_user, resource="leases")
    assert [w.verb for w in leases] == ["create", "update", "update"]


def test_controller_cannot_read_secrets(cp: TestBed) -> None:
    core_admin = kubernetes.client.CoreV1Api(cp.api)
    core_admin.create_namespaced_secret(
        cp.namespace, {"metadata": {"name": "db-password"}, "stringData": {"password": "x"}}
    )
    client = cp.controller_client()
    core = kubernetes.client.CoreV1Api(client.api_client)
    calls = {
        "get": lambda: core.read_namespaced_secret("db-password", cp.namespace),
        "list": lambda: core.list_namespaced_secret(cp.namespace),
        "list-all": lambda: core.list_secret_for_all_namespaces(),
        "watch": lambda: core.list_namespaced_secret(cp.namespace, watch=True, timeout_seconds=1),
    }
    for name, call in calls.items():
        with pytest.raises(kubernetes.client.ApiException) as caught:
            call()
        assert caught.value.status == 403, name
        message = json.loads(caught.value.body)["message"]
        assert re.search(r'cannot (get|list|watch) resource "secrets"', message), message
        assert cp.controller_user in message


def _read(cp: TestBed) -> StoredRollout:
    return parse_stored(cp.admin.get(MODELROLLOUTS, "fraud-scorer", cp.namespace))


def _forbidden(stored: StoredRollout) -> str | None:
    """Where the rollout's status says the controller was forbidden something."""
    texts = [c.message for c in stored.status.conditions if c.status == "False"]
    texts.append(stored.status.message or "")
    if stored.status.verification is not None:
        texts.append(stored.status.verification.message or "")
    return next((t for t in texts if "forbidden" in t.lower()), None)


_LEASE_ROLE = "Role/mlrollout-leader-election"
# Events and report records are best effort: a refused write is logged and the rollout goes on.
_BEST_EFFORT = {"events", "configmaps"}
_GATEWAY_ONLY = {"httproutes"}
# Read only by a controller started without --templates; these rollouts name their templates
# (cluster templates are tested in tests/controller/test_cluster_templates.py). Namespace
# labels are read only once a ClusterReleasePolicy exists (tests/controller/
# test_release_policy.py); these namespaces have none.
_TEMPLATES_FROM_CLUSTER = {"analysistemplates", "clusteranalysistemplates", "namespaces"}


def _rule_cases() -> list[object]:
    return [
        pytest.param(ref, rule["resources"][0], id=f"{ref}-{rule['resources'][0]}")
        for ref, rule in shipped_rules()
        if rule["resources"][0] not in _TEMPLATES_FROM_CLUSTER
    ]


@pytest.mark.parametrize(("rule", "resource"), _rule_cases())
def test_every_shipped_rule_is_needed(
    cp: TestBed, registry: SignedRegistry, rule: RuleRef, resource: str
) -> None:
    """The in-cluster manager runs with the shipped RBAC minus one rule: the API server
    refuses something, and the rollout does not succeed and says so (when the status may
    still be written)."""
    _model(cp, registry, "gateway-api" if resource in _GATEWAY_ONLY else "replicas")
    client = cp.controller_client(without=rule)
    if rule.role == _LEASE_ROLE:
        lock = LeaseLock(client, name="mlrollout-controller", namespace=cp.namespace, identity="a")
        won = [lock.try_acquire_or_renew() for _ in range(2)]  # create, then get + update
        assert won != [True, True]
    else:
        done = _forbidden if resource not in _BEST_EFFORT else (lambda s: None)
        try:
            run_manager(
                client,
                cp.namespace,
                registry,
                read=lambda: _read(cp),
                until=lambda s: s.status.phase.terminal or done(s) is not None,
                timeout=20.0,
            )
        except AssertionError:
            if resource not in ("modelrollouts", "modelrollouts/status"):
                raise  # the rollout may be read and written: it must say why it is stuck
    group_resource, _, subresource = resource.partition("/")
    refused = [
        r
        for r in cp.audit.requests(user=cp.controller_user, resource=group_resource)
        if r.code == 403 and r.subresource == subresource
    ]
    assert refused, f"no request on {resource} was refused"
    stored = _read(cp)
    if resource in _BEST_EFFORT:
        assert stored.status.phase is Phase.SUCCEEDED  # refused Events do not stop it
        return
    assert stored.status.phase is not Phase.SUCCEEDED
    if resource not in ("modelrollouts", "modelrollouts/status", "leases"):
        assert _forbidden(stored) is not None, stored.status
