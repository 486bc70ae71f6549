"""Every manifest under examples/ is a valid object of its kind (a server-side dry run with
strict field validation on the real control plane, marker ``controlplane``: built-in kinds,
mlrollout's CRD schemas and the Gateway API HTTPRoute, each judged by kube-apiserver),
examples/deploy/ is complete and consistent (kustomization, controller, RBAC,
NetworkPolicies, environments, rollout), and every Deployment passes mlrollout's own
pod-security gate (those cases need no server)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.fixtures import TestBed
from mlrollout.cli.lint import template_files
from mlrollout.cli.templates import packaged_templates
from mlrollout.controller.gating import decide_model_verifier
from mlrollout.gates import PodSecurityPolicy, assess_pod_template
from mlrollout.gates.podsecurity import assess_restricted
from mlrollout.spec import load_paths
from mlrollout.spec.environment import DEFAULT_SECRETS_DIR
from mlrollout.spec.loader import load_rollout

from .cli_lines import check_command_line
from .dryrun import apply_dry_run, map_namespaces
from .manifests import (
    DEPLOY,
    EXAMPLES,
    documents,
    flag,
    kustomization_files,
    manifest_files,
    named,
    objects,
    of_kind,
    require_kubectl,
)

ROOT = EXAMPLES.parent
GPU = "nvidia.com/gpu"


def _namespaces(docs: list[dict[str, Any]]) -> list[str]:
    """The namespaces ``docs`` name (of objects and of RBAC subjects)."""
    names = {d["metadata"].get("namespace") for d in docs}
    names |= {s.get("namespace") for d in docs for s in d.get("subjects", [])}
    return sorted(n for n in names if n)


def _dry_run(cp: TestBed, docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    """``docs`` dry-run applied with every namespace they name mapped to the test's own."""
    mapping = dict.fromkeys(_namespaces(docs), cp.namespace)
    return apply_dry_run(cp, map_namespaces(docs, mapping), namespace=cp.namespace)


def _file_dry_run(cp: TestBed, path: Path) -> subprocess.CompletedProcess[str]:
    """The file's own text dry-run applied (kubectl parses it, as for a user), every
    ``namespace:`` it names mapped to the test's own."""
    text = path.read_text()
    for name in _namespaces(documents(path)):
        text = re.sub(rf"(\bnamespace:\s*){re.escape(name)}\b", rf"\g<1>{cp.namespace}", text)
    return apply_dry_run(cp, text, namespace=cp.namespace)


@pytest.mark.controlplane
def test_every_example_manifest_is_a_valid_object(cp: TestBed) -> None:
    failed = []
    for path in manifest_files():
        docs = documents(path)
        assert docs, path
        done = _file_dry_run(cp, path)
        applied = [line for line in done.stdout.splitlines() if line.strip()]
        if done.returncode != 0 or len(applied) != len(docs):
            failed.append(f"{path.relative_to(ROOT)}: {done.stderr.strip() or done.stdout}")
    assert failed == []


@pytest.mark.controlplane
def test_an_invalid_object_is_caught(cp: TestBed) -> None:
    deployment = named(objects(), "Deployment", "mlrollout-controller")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    done = _dry_run(cp, [broken])
    assert done.returncode != 0
    assert "imagePullPolicyy" in done.stderr
    rollout = yaml.safe_load((DEPLOY / "rollout.yaml").read_text())
    rollout["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = 120
    done = _dry_run(cp, [rollout])
    assert done.returncode != 0
    assert "setWeight" in done.stderr


def test_kustomization_lists_every_deploy_file_and_only_existing_ones() -> None:
    listed = kustomization_files(DEPLOY)  # asserts that every entry exists
    assert len(listed) == len(set(listed))
    here = {p for p in listed if p.parent == DEPLOY}
    assert here == {p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml"}
    crds = {p for p in listed if p.parent == EXAMPLES / "crd"}
    assert crds == {p for p in (EXAMPLES / "crd").glob("*.yaml") if p.name != "kustomization.yaml"}


def test_kubectl_kustomize_renders_every_listed_object() -> None:
    require_kubectl()
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True
    ).stdout
    out = [d for d in yaml.safe_load_all(rendered) if d]

    def key(d: dict[str, Any]) -> tuple[str, str, str]:
        return d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]

    assert sorted(map(key, out)) == sorted(map(key, objects()))
    images = {c["image"] for d in of_kind(out, "Deployment") for c in _containers(d)}
    assert "registry.example.com/mlrollout:0.1.0" in images


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


# -- RBAC -----------------------------------------------------------------------------------

# Kinds the controller creates and so may one day delete; nothing else.
OWNED = {"configmaps", "leases", "events"}
DANGEROUS_RESOURCES = {
    "secrets",
    "serviceaccounts/token",
    "pods/exec",
    "pods/attach",
    "pods/portforward",
    "nodes/proxy",
}
DANGEROUS_VERBS = {"escalate", "bind", "impersonate"}
# What only a cluster-wide grant can give: watching rollouts in every namespace, GPU nodes,
# cluster-scoped mlrollout kinds, namespace labels.
CLUSTER_WIDE = {
    "modelrollouts",
    "modelrollouts/status",
    "nodes",
    "pods",
    "namespaces",
    "clusterreleasepolicies",
    "clusteranalysistemplates",
}


def _roles() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in manifest_files():
        for doc in documents(path):
            if doc["kind"] in ("Role", "ClusterRole"):
                out.append(
                    (f"{path.relative_to(ROOT)} {doc['kind']}/{doc['metadata']['name']}", doc)
                )
    return out


def test_roles_exist_to_be_checked() -> None:
    names = {name.split()[-1] for name, _ in _roles()}
    assert {
        "ClusterRole/mlrollout-controller",
        "Role/mlrollout-leader-election",
        "ClusterRole/mlrollout-rollout-target",
        "ClusterRole/mlrollout-admission",
    } <= names


@pytest.mark.parametrize(("where", "role"), _roles(), ids=[r[0] for r in _roles()])
def test_rbac_has_no_wildcard_no_secrets_and_deletes_only_what_it_owns(
    where: str, role: dict[str, Any]
) -> None:
    for rule in role["rules"]:
        for field in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert "*" not in rule.get(field, []), f"{where}: wildcard in {field}"
        resources, verbs = set(rule["resources"]), set(rule["verbs"])
        assert not resources & DANGEROUS_RESOURCES, f"{where}: {resources}"
        assert not verbs & DANGEROUS_VERBS, f"{where}: {verbs}"
        if verbs & {"delete", "deletecollection"}:
            assert resources <= OWNED, f"{where}: delete on {resources - OWNED}"
        # ModelRollouts belong to their authors: the controller writes only their status.
        if "modelrollouts" in resources:
            assert verbs <= {"get", "list", "watch"}, where


def test_cluster_wide_grants_only_what_needs_the_cluster() -> None:
    docs = objects()
    for binding in of_kind(docs, "ClusterRoleBinding"):
        role = named(docs, "ClusterRole", binding["roleRef"]["name"])
        for rule in role["rules"]:
            assert set(rule["resources"]) <= CLUSTER_WIDE, rule
            assert set(rule["verbs"]) <= {"get", "list", "watch", "update", "patch"}, rule
    # Workload writes come from a ClusterRole bound per ML namespace by a RoleBinding.
    target = named(docs, "ClusterRole", "mlrollout-rollout-target")
    bound = [
        b
        for b in of_kind(docs, "RoleBinding")
        if b["roleRef"]["name"] == "mlrollout-rollout-target"
    ]
    assert [b["metadata"]["namespace"] for b in bound] == ["ml-prod"]
    assert not [
        b
        for b in of_kind(docs, "ClusterRoleBinding")
        if b["roleRef"]["name"] == "mlrollout-rollout-target"
    ]
    assert {"deployments", "services", "httproutes"} <= {
        r for rule in target["rules"] for r in rule["resources"]
    }


# -- the controller -------------------------------------------------------------------------


def _controller() -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = named(objects(), "Deployment", "mlrollout-controller")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, container


def test_controller_runs_as_its_service_account_and_elects_on_its_lease() -> None:
    docs = objects()
    deployment, container = _controller()
    namespace = deployment["metadata"]["namespace"]
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert named(docs, "ServiceAccount", account)["metadata"]["namespace"] == namespace
    check_command_line(container["args"])
    assert container["args"][0] == "controller"
    lease = named(docs, "Role", "mlrollout-leader-election")
    assert flag(container["args"], "lease-namespace") == lease["metadata"]["namespace"]
    assert any("mlrollout-controller" in r.get("resourceNames", []) for r in lease["rules"])
    assert flag(container["args"], "identity") == "$(POD_NAME)"
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # Readiness is leadership: one replica, replaced without a surge.
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_controller_probes_and_metrics_service_use_its_health_port() -> None:
    deployment, container = _controller()
    port = int(flag(container["args"], "health-port"))
    [named_port] = container["ports"]
    assert named_port["containerPort"] == port
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": named_port["name"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": named_port["name"]}
    service = named(objects(), "Service", "mlrollout-controller-metrics")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [named_port["name"]]
    resources = container["resources"]
    assert resources["requests"]
    assert resources["limits"]


def test_controller_reads_trusted_keys_from_mounted_secrets() -> None:
    deployment, container = _controller()
    rollout = yaml.safe_load((DEPLOY / "rollout.yaml").read_text())
    env = {e["name"]: e.get("value") for e in container["env"]}
    secrets_dir = env.get("MLROLLOUT_SECRETS_DIR", DEFAULT_SECRETS_DIR)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    signature = rollout["spec"]["gates"]["signature"]
    for ref in [*signature["publicKeys"], signature["trustedRoot"]]:
        volume = volumes[mounts[f"{secrets_dir}/{ref['secret']}"]]
        assert volume["secret"]["secretName"] == ref["secret"]


# -- NetworkPolicies ------------------------------------------------------------------------


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return wanted.items() <= labels.items()


def test_network_policies_restrict_the_controller_and_the_models() -> None:
    docs = objects()
    policies = of_kind(docs, "NetworkPolicy")
    for deployment in of_kind(docs, "Deployment"):
        namespace = deployment["metadata"]["namespace"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        mine = [
            p
            for p in policies
            if p["metadata"]["namespace"] == namespace
            and p["spec"]["podSelector"]
            and _selects(p, labels)
        ]
        assert mine, deployment["metadata"]["name"]
        for policy in mine:
            assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    # The models: everything denied by default in their namespace, DNS the only egress.
    deny = named(docs, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    models = named(docs, "NetworkPolicy", "fraud-scorer")
    ports = {(p["protocol"], p["port"]) for rule in models["spec"]["egress"] for p in rule["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53)}
    # The controller: DNS, Prometheus, and HTTPS to the API server and registries.
    controller = named(docs, "NetworkPolicy", "mlrollout-controller")
    ports = {p["port"] for rule in controller["spec"]["egress"] for p in rule["ports"]}
    assert ports == {53, 9090, 443, 6443}


# -- the environments and the rollout --------------------------------------------------------


def test_rollout_loads_and_names_what_the_manifests_create() -> None:
    docs = objects()
    # As the controller loads --templates=<site-packages>/mlrollout/analyses in the image.
    library = load_paths(template_files([packaged_templates()])).templates
    rollout = load_rollout(DEPLOY / "rollout.yaml", templates=library)
    raw = yaml.safe_load((DEPLOY / "rollout.yaml").read_text())
    namespace = raw["metadata"]["namespace"]
    service = raw["spec"]["service"]
    assert named(docs, "Service", service)["metadata"]["namespace"] == namespace
    route = named(
        docs, "HTTPRoute", raw["spec"]["strategy"]["canary"]["traffic"]["httpRoute"]["name"]
    )
    backends = {b["name"] for rule in route["spec"]["rules"] for b in rule["backendRefs"]}
    assert backends == {f"{service}-blue", f"{service}-green"}
    for backend in backends:
        named(docs, "Service", backend)
    for env in ("blue", "green"):
        deployment = named(docs, "Deployment", raw["spec"]["environments"][env]["deployment"])
        assert deployment["metadata"]["namespace"] == namespace
        template = deployment["spec"]["template"]
        assert decide_model_verifier(template) is None  # runs `mlrollout verify model`
        for init in template["spec"]["initContainers"]:
            check_command_line(init["args"])
        [model] = template["spec"]["containers"]
        assert model["resources"]["limits"][GPU] == "1"
    assert rollout.spec.release.model is not None
    assert rollout.spec.release.model.signature is not None


def _deployments() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{p.relative_to(EXAMPLES)}:{d['metadata']['name']}", d)
        for p in manifest_files()
        for d in documents(p)
        if d["kind"] == "Deployment"
    ]


@pytest.mark.parametrize(
    ("where", "deployment"), _deployments(), ids=[d[0] for d in _deployments()]
)
def test_every_example_deployment_passes_the_pod_security_gate(
    where: str, deployment: dict[str, Any]
) -> None:
    template = deployment["spec"]["template"]
    assert assess_restricted(template) == []
    policies = [
        p
        for p in of_kind(objects(), "NetworkPolicy")
        if p["metadata"]["namespace"] == deployment["metadata"].get("namespace")
    ]
    findings = assess_pod_template(
        template, PodSecurityPolicy(level="restricted"), network_policies=policies, model_uri=None
    )
    errors = [f.rule for f in findings if f.severity == "error"]
    gpu = any(
        GPU in c.get("resources", {}).get("limits", {}) for c in template["spec"]["containers"]
    )
    # The controller and the admission webhook are no GPU model servers.
    assert errors == ([] if gpu else ["gpu-limit"]), findings
    if where.startswith("deploy/"):
        assert findings == [] if gpu else [f.rule for f in findings] == ["gpu-limit"], findings
