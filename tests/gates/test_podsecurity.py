"""Pod templates against "restricted" plus mlrollout's extra rules: every finding reported."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mlrollout.gates import PodSecurityPolicy, Reason
from mlrollout.gates.hardening import assess_pod_template, decide_pod_security

POLICY = PodSecurityPolicy(max_gpus=2)
EGRESS = {
    "kind": "NetworkPolicy",
    "spec": {"podSelector": {"matchLabels": {"app": "fraud"}}, "policyTypes": ["Egress"]},
}


def _template() -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "fraud", "env": "green"}},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "server",
                    "image": "registry.example.com/fraud@sha256:" + "a" * 64,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {
                        "requests": {"cpu": "1", "memory": "4Gi"},
                        "limits": {"memory": "4Gi", "nvidia.com/gpu": "1"},
                    },
                    "env": [{"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "t"}}}],
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }


def _rules(template: dict[str, Any], **kwargs: Any) -> set[tuple[str, str]]:
    findings = assess_pod_template(
        template,
        kwargs.pop("policy", POLICY),
        network_policies=kwargs.pop("nps", [EGRESS]),
        **kwargs,
    )
    return {(f.path, f.rule) for f in findings}


def test_compliant_template_has_no_findings() -> None:
    assert _rules(_template(), model_uri="s3://models/fraud/42") == set()
    result = decide_pod_security("green", [])
    assert result.verified


def _container(t: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = t["spec"]["containers"][0]
    return container


C = "spec.containers[0]"
SC = f"{C}.securityContext"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda t: t["spec"].update(hostNetwork=True), ("spec.hostNetwork", "host-namespaces")),
        (lambda t: t["spec"].update(hostPID=True), ("spec.hostPID", "host-namespaces")),
        (
            lambda t: _container(t)["securityContext"].update(privileged=True),
            (f"{SC}.privileged", "privileged"),
        ),
        (
            lambda t: _container(t)["securityContext"].pop("allowPrivilegeEscalation"),
            (f"{SC}.allowPrivilegeEscalation", "allow-privilege-escalation"),
        ),
        (
            lambda t: _container(t)["securityContext"].update(capabilities={"drop": ["NET_RAW"]}),
            (f"{SC}.capabilities.drop", "capabilities"),
        ),
        (
            lambda t: _container(t)["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
            (f"{SC}.capabilities.add", "capabilities"),
        ),
        (
            lambda t: _container(t)["securityContext"].update(runAsNonRoot=False),
            (f"{SC}.runAsNonRoot", "run-as-non-root"),
        ),
        (
            lambda t: t["spec"]["securityContext"].update(runAsUser=0),
            (f"{SC}.runAsUser", "run-as-user"),
        ),
        (
            lambda t: t["spec"]["securityContext"].pop("runAsUser"),
            (f"{SC}.runAsUser", "run-as-user"),
        ),
        (
            lambda t: t["spec"]["securityContext"].update(seccompProfile={"type": "Unconfined"}),
            (f"{SC}.seccompProfile.type", "seccomp"),
        ),
        (
            lambda t: _container(t).update(ports=[{"containerPort": 80, "hostPort": 80}]),
            (f"{C}.ports[0].hostPort", "host-ports"),
        ),
        (
            lambda t: t["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
            ("spec.volumes[1].hostPath", "host-path"),
        ),
        (
            lambda t: t["spec"]["volumes"].append({"name": "n", "nfs": {"server": "x"}}),
            ("spec.volumes[1]", "volume-types"),
        ),
        (
            lambda t: _container(t)["securityContext"].update(readOnlyRootFilesystem=False),
            (f"{SC}.readOnlyRootFilesystem", "read-only-root"),
        ),
        (lambda t: _container(t).pop("volumeMounts"), (f"{C}.volumeMounts", "tmp-empty-dir")),
        (
            lambda t: _container(t)["resources"].pop("requests"),
            (f"{C}.resources.requests", "resources"),
        ),
        (
            lambda t: _container(t)["resources"]["limits"].pop("nvidia.com/gpu"),
            ("spec.containers", "gpu-limit"),
        ),
        (
            lambda t: _container(t)["resources"]["limits"].update({"nvidia.com/gpu": "4"}),
            (f"{C}.resources.limits[nvidia.com/gpu]", "gpu-limit"),
        ),
        (
            lambda t: _container(t)["env"].append({"name": "DB_PASSWORD", "value": "hunter2"}),
            (f"{C}.env[1].value", "env-literal-secret"),
        ),
        (
            lambda t: t["spec"].setdefault("initContainers", [{"name": "fetch"}]),
            (
                "spec.initContainers[0].securityContext.allowPrivilegeEscalation",
                "allow-privilege-escalation",
            ),
        ),
    ],
    ids=lambda v: v[1] if isinstance(v, tuple) else "",
)
def test_each_violation_is_found(mutate: Any, expected: tuple[str, str]) -> None:
    template = copy.deepcopy(_template())
    mutate(template)
    assert expected in _rules(template)


def test_every_finding_is_returned_not_just_the_first() -> None:
    template = _template()
    template["spec"]["hostNetwork"] = True
    _container(template)["securityContext"] = {}
    rules = {rule for _, rule in _rules(template)}
    assert {
        "host-namespaces",
        "allow-privilege-escalation",
        "capabilities",
        "read-only-root",
    } <= rules
    result = decide_pod_security(
        "green", assess_pod_template(template, POLICY, network_policies=[EGRESS])
    )
    assert result.reason is Reason.POD_SECURITY
    assert len([c for c in result.checks if not c.passed]) >= 4


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("https://models.example.com/m", True),
        ("s3://b/m", True),
        ("gs://b/m", True),
        ("http://models.example.com/m", False),
        ("ftp://x/m", False),
    ],
)
def test_model_uri_must_use_tls(uri: str, ok: bool) -> None:
    assert (("release.model.uri", "model-uri-tls") not in _rules(_template(), model_uri=uri)) is ok


@pytest.mark.parametrize(
    ("nps", "found"),
    [
        ([], True),
        ([{"spec": {"podSelector": {}, "policyTypes": ["Egress"]}}], False),
        ([{"spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}], True),
        (
            [
                {
                    "spec": {
                        "podSelector": {"matchLabels": {"app": "other"}},
                        "policyTypes": ["Egress"],
                    }
                }
            ],
            True,
        ),
        (
            [
                {
                    "spec": {
                        "podSelector": {
                            "matchExpressions": [
                                {"key": "env", "operator": "In", "values": ["green", "blue"]}
                            ]
                        },
                        "policyTypes": ["Egress"],
                    }
                }
            ],
            False,
        ),
    ],
    ids=["none", "namespace-wide", "ingress-only", "other-pods", "expression"],
)
def test_egress_network_policy(nps: list[dict[str, Any]], found: bool) -> None:
    assert (("metadata.labels", "egress-network-policy") in _rules(_template(), nps=nps)) is found


def test_missing_egress_policy_is_a_warning_or_a_refusal_per_policy() -> None:
    warn = assess_pod_template(_template(), POLICY, network_policies=[])
    assert decide_pod_security("green", warn).verified
    strict = PodSecurityPolicy(max_gpus=2, egress_policy_missing_is_error=True)
    refuse = assess_pod_template(_template(), strict, network_policies=[])
    assert decide_pod_security("green", refuse).reason is Reason.POD_SECURITY
