"""Test support: AdmissionReview v1 requests for pods and workload kinds."""

from __future__ import annotations

from typing import Any

GROUPS = {
    "Pod": ("", "v1"),
    "Deployment": ("apps", "v1"),
    "ReplicaSet": ("apps", "v1"),
    "StatefulSet": ("apps", "v1"),
    "DaemonSet": ("apps", "v1"),
    "Job": ("batch", "v1"),
    "CronJob": ("batch", "v1"),
}


def pod_spec(
    image: str, *, init: str | None = None, ephemeral: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "model", "image": image}]}
    if init is not None:
        spec["initContainers"] = [{"name": "verify", "image": init}]
    if ephemeral is not None:
        spec["ephemeralContainers"] = [{"name": "debug", "image": ephemeral}]
    return spec


def workload(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """An object of ``kind`` whose pods run ``spec``."""
    template = {"metadata": {"labels": {"app": "x"}}, "spec": spec}
    if kind == "Pod":
        body: dict[str, Any] = spec
    elif kind == "CronJob":
        body = {"schedule": "@hourly", "jobTemplate": {"spec": {"template": template}}}
    else:
        body = {"template": template}
    group, version = GROUPS[kind]
    return {
        "apiVersion": f"{group}/{version}" if group else version,
        "kind": kind,
        "metadata": {"name": "x"},
        "spec": body,
    }


def review(
    kind: str,
    obj: Any,
    *,
    namespace: str = "prod",
    operation: str = "CREATE",
    uid: str = "705ab4f5-6393-11e8-b7cc-42010a800002",
) -> dict[str, Any]:
    group, version = GROUPS.get(kind, ("example.com", "v1"))
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
            "namespace": namespace,
            "operation": operation,
            "object": obj,
        },
    }
