"""mlrollout's rules beyond "restricted" for model-serving pods, and the pod-template verdict.

Pure. Adds: read-only root filesystem with an emptyDir at /tmp, resource requests and
limits, GPU limits present and bounded, no literal secrets in env, model URI over TLS, and
an egress NetworkPolicy selecting the pod (NetworkPolicy dicts are passed in by the kube
layer), and a numeric non-root UID at every level. ``assess_pod_template`` combines these
with the Pod Security Standards level the policy names (``podsecurity``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from mlrollout.gates.podsecurity import Finding, assess_pod_security, iter_containers
from mlrollout.gates.policy import PodSecurityPolicy
from mlrollout.gates.reasons import Reason
from mlrollout.gates.result import Check, VerificationResult

__all__ = ["assess_pod_template", "decide_pod_security"]

_SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL"
)


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def assess_pod_template(
    template: Mapping[str, Any],
    policy: PodSecurityPolicy,
    *,
    network_policies: Sequence[Mapping[str, Any]],
    model_uri: str | None = None,
) -> list[Finding]:
    """All findings: the Pod Security Standards level of ``policy``, then the extra rules."""
    spec = _obj(template.get("spec"))
    found = list(assess_pod_security(template, policy.level))
    for path, container in iter_containers(spec):
        found += _container(path, container, spec, policy)
    found += _gpus(spec, policy)
    if model_uri is not None:
        found += _model_uri(model_uri, policy)
    if policy.require_egress_policy:
        found += _egress(
            _obj(_obj(template.get("metadata")).get("labels")), network_policies, policy
        )
    return found


def _container(
    path: str, container: Mapping[str, Any], spec: Mapping[str, Any], policy: PodSecurityPolicy
) -> list[Finding]:
    found: list[Finding] = []
    sc = _obj(container.get("securityContext"))
    if policy.require_read_only_root and sc.get("readOnlyRootFilesystem") is not True:
        found.append(
            Finding(
                f"{path}.securityContext.readOnlyRootFilesystem", "read-only-root", "must be true"
            )
        )
    if policy.require_read_only_root and not _tmp_is_empty_dir(container, spec):
        found.append(
            Finding(
                f"{path}.volumeMounts",
                "tmp-empty-dir",
                "mount an emptyDir at /tmp for a read-only root filesystem",
            )
        )
    uid = (
        sc["runAsUser"] if "runAsUser" in sc else _obj(spec.get("securityContext")).get("runAsUser")
    )
    if not isinstance(uid, int) or isinstance(uid, bool):
        found.append(
            Finding(
                f"{path}.securityContext.runAsUser", "run-as-user", "must be set to a numeric UID"
            )
        )
    resources = _obj(container.get("resources"))
    for kind in ("requests", "limits"):
        if not _obj(resources.get(kind)):
            found.append(Finding(f"{path}.resources.{kind}", "resources", f"{kind} must be set"))
    for index, env in enumerate(container.get("env") or []):
        entry = _obj(env)
        if _SECRET_NAME.search(str(entry.get("name", "")).upper()) and entry.get("value"):
            found.append(
                Finding(
                    f"{path}.env[{index}].value",
                    "env-literal-secret",
                    f"{entry.get('name')} holds a literal value; use valueFrom",
                )
            )
    return found


def _tmp_is_empty_dir(container: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    empty = {_obj(v).get("name") for v in spec.get("volumes") or [] if "emptyDir" in _obj(v)}
    mounts = container.get("volumeMounts") or []
    return any(_obj(m).get("mountPath") == "/tmp" and _obj(m).get("name") in empty for m in mounts)


def _gpus(spec: Mapping[str, Any], policy: PodSecurityPolicy) -> Iterator[Finding]:
    seen = False
    for index, container in enumerate(spec.get("containers") or []):
        limits = _obj(_obj(_obj(container).get("resources")).get("limits"))
        if policy.gpu_resource not in limits:
            continue
        seen = True
        path = f"spec.containers[{index}].resources.limits[{policy.gpu_resource}]"
        count = str(limits[policy.gpu_resource])
        if not count.isdigit() or not 0 < int(count) <= policy.max_gpus:
            yield Finding(path, "gpu-limit", f"must be 1..{policy.max_gpus}, got {count!r}")
    if policy.require_gpu and not seen:
        yield Finding("spec.containers", "gpu-limit", f"no container limits {policy.gpu_resource}")


def _model_uri(uri: str, policy: PodSecurityPolicy) -> Iterator[Finding]:
    scheme = urlparse(uri).scheme
    if scheme not in policy.allowed_model_schemes:
        allowed = ", ".join(sorted(policy.allowed_model_schemes))
        yield Finding("release.model.uri", "model-uri-tls", f"scheme {scheme!r} not in {allowed}")


def _selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    wanted = _obj(selector.get("matchLabels"))
    if any(labels.get(k) != v for k, v in wanted.items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        entry = _obj(expr)
        key, op, values = str(entry.get("key")), entry.get("operator"), entry.get("values") or []
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(str(op), False)
        if not ok:
            return False
    return True


def _egress(
    labels: Mapping[str, Any], policies: Sequence[Mapping[str, Any]], policy: PodSecurityPolicy
) -> Iterator[Finding]:
    for item in policies:
        spec = _obj(item.get("spec"))
        if "Egress" in (spec.get("policyTypes") or []) and _selects(
            _obj(spec.get("podSelector")), labels
        ):
            return
    severity = "error" if policy.egress_policy_missing_is_error else "warning"
    yield Finding(
        "metadata.labels",
        "egress-network-policy",
        "no NetworkPolicy restricts egress for these pods",
        severity,
    )


def decide_pod_security(environment: str, findings: Sequence[Finding]) -> VerificationResult:
    """Refused (``POD_SECURITY``) when any finding is an error; warnings are kept as checks."""
    checks = tuple(
        Check(
            "pod-security",
            i,
            Reason.POD_SECURITY if f.severity == "error" else None,
            f"{f.severity}: {f.path}: {f.rule}: {f.message}",
        )
        for i, f in enumerate(findings)
    )
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        return VerificationResult.refused(
            environment,
            Reason.POD_SECURITY,
            f"{len(errors)} violation(s), first: {errors[0].path}: {errors[0].message}",
            checks,
        )
    return VerificationResult(
        environment, None, f"pod template passes ({len(findings)} warning(s))", checks
    )
