"""The shipped admission manifests: valid Kubernetes objects (kubernetes-validate), wired
to each other, and the ValidatingAdmissionPolicy's CEL evaluated (cel-python) over pods and
workloads — pinned images admitted, any tag-only image in any container list denied."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import celpy
import kubernetes_validate
import pytest
import yaml
from celpy import celtypes

from .reviews import pod_spec, workload

ROOT = Path(__file__).resolve().parents[2]
ADMISSION = ROOT / "examples" / "admission"
PINNED = "registry.example.com/ml/fraud@sha256:" + "0123456789abcdef" * 4
DIGEST_RE = re.compile(r"@sha256:[a-f0-9]{64}$")


def _documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((ADMISSION / name).read_text()) if d]


@pytest.mark.parametrize("name", ["webhook.yaml", "deployment.yaml", "digest-pinning.yaml"])
def test_manifests_are_valid_kubernetes_objects(name: str) -> None:
    for doc in _documents(name):
        kubernetes_validate.validate(doc, "1.30", strict=True)


def test_webhook_fails_closed_for_pods_and_workloads_in_governed_namespaces() -> None:
    [config] = _documents("webhook.yaml")
    [hook] = config["webhooks"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] == 10
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["clientConfig"]["service"]["path"] == "/validate"
    assert hook["namespaceSelector"] == {"matchLabels": {"mlrollout.io/governed": "true"}}
    resources = {r for rule in hook["rules"] for r in rule["resources"]}
    assert resources == {
        "pods",
        "pods/ephemeralcontainers",
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "jobs",
        "cronjobs",
    }
    service = next(d for d in _documents("deployment.yaml") if d["kind"] == "Service")
    assert service["metadata"]["name"] == hook["clientConfig"]["service"]["name"]
    assert service["metadata"]["namespace"] == hook["clientConfig"]["service"]["namespace"]


def test_admission_deployment_passes_the_restricted_profile() -> None:
    from mlrollout.gates import PodSecurityPolicy, assess_pod_template

    deployment = next(d for d in _documents("deployment.yaml") if d["kind"] == "Deployment")
    findings = assess_pod_template(
        deployment["spec"]["template"],
        PodSecurityPolicy(require_egress_policy=False),
        network_policies=[],
        model_uri=None,
    )
    # The webhook is not a GPU model server: the GPU-limit rule is the only one it may break.
    assert [f.rule for f in findings if f.severity == "error"] == ["gpu-limit"]


def _join(items: celtypes.ListType, separator: celtypes.StringType) -> celtypes.StringType:
    """Kubernetes' CEL strings extension ``list.join(sep)`` (not in cel-python's core)."""
    return celtypes.StringType(str(separator).join(str(i) for i in items))


def _evaluate(obj: dict[str, Any]) -> tuple[bool, str]:
    """The VAP's variables and validation over ``obj``, in the API server's order."""
    policy = _documents("digest-pinning.yaml")[0]["spec"]
    env = celpy.Environment()
    activation: dict[str, Any] = {"object": celpy.json_to_cel(obj)}
    variables: dict[celtypes.StringType, Any] = {}

    def run(expression: str) -> Any:
        activation["variables"] = celtypes.MapType(variables)
        program = env.program(env.compile(expression), functions={"join": _join})
        return program.evaluate(activation)

    for variable in policy["variables"]:
        variables[celtypes.StringType(variable["name"])] = run(variable["expression"])
    [validation] = policy["validations"]
    allowed = bool(run(validation["expression"]))
    return allowed, "" if allowed else str(run(validation["messageExpression"]))


CASES = [
    ("pod-pinned", "Pod", pod_spec(PINNED), None),
    ("pod-tag", "Pod", pod_spec("nginx:1.27"), "nginx:1.27"),
    ("pod-tag-and-digest", "Pod", pod_spec("nginx:1.27@sha256:" + "a" * 64), None),
    ("pod-short-digest", "Pod", pod_spec("nginx@sha256:abc"), "nginx@sha256:abc"),
    (
        "pod-uppercase-digest",
        "Pod",
        pod_spec("nginx@sha256:" + "A" * 64),
        "nginx@sha256:" + "A" * 64,
    ),
    ("pod-init-tag", "Pod", pod_spec(PINNED, init="busybox"), "busybox"),
    ("pod-ephemeral-tag", "Pod", pod_spec(PINNED, ephemeral="debug:1"), "debug:1"),
    ("deployment-pinned", "Deployment", pod_spec(PINNED, init=PINNED), None),
    ("deployment-tag", "Deployment", pod_spec("model:v43"), "model:v43"),
    ("statefulset-tag", "StatefulSet", pod_spec(PINNED, init="x:1"), "x:1"),
    ("daemonset-pinned", "DaemonSet", pod_spec(PINNED), None),
    ("replicaset-tag", "ReplicaSet", pod_spec("y"), "y"),
    ("job-tag", "Job", pod_spec("z:2"), "z:2"),
    ("cronjob-pinned", "CronJob", pod_spec(PINNED), None),
    ("cronjob-tag", "CronJob", pod_spec("w:3"), "w:3"),
]


@pytest.mark.parametrize(
    ("kind", "spec", "unpinned"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_digest_pinning_policy(kind: str, spec: dict[str, Any], unpinned: str | None) -> None:
    allowed, message = _evaluate(workload(kind, spec))
    images = [c["image"] for key in spec for c in spec[key]]
    assert allowed is all(DIGEST_RE.search(i) for i in images)  # the same rule in Python
    assert allowed is (unpinned is None)
    if unpinned is not None:
        assert message == (
            "every image must be pinned by digest (@sha256:<64 hex>); not pinned: " + unpinned
        )


def test_binding_denies_in_governed_namespaces() -> None:
    policy, binding = _documents("digest-pinning.yaml")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    selector = binding["spec"]["matchResources"]["namespaceSelector"]
    assert selector == {"matchLabels": {"mlrollout.io/governed": "true"}}
