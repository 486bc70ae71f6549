"""What the built-in deployment controller writes: pods from a template, their status, and
the Deployment's status.

Pure; used by ``deployments`` (the loop that does the writes). The model is deliberately
small: no ReplicaSets (pods are owned by the Deployment directly and carry a
``pod-template-hash`` label), a template change *recreates* (all old pods go, then the new
ones come), ``minReadySeconds`` is ignored (ready means available).
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime
from typing import Any

from .lifecycle import format_timestamp

__all__ = [
    "HASH_LABEL",
    "compute_deployment_status",
    "compute_pod",
    "compute_pod_status",
    "compute_template_hash",
    "is_pod_ready",
]

HASH_LABEL = "pod-template-hash"


def compute_template_hash(template: dict[str, Any]) -> str:
    """A stable 10-character hash of a pod template (the ``pod-template-hash`` label)."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def compute_pod(deployment: dict[str, Any], *, template_hash: str, suffix: str) -> dict[str, Any]:
    """A new pod of ``deployment`` (labels from its template, owned by it)."""
    meta = deployment["metadata"]
    template = (deployment.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    pod_meta: dict[str, Any] = {
        "name": f"{meta['name']}-{template_hash}-{suffix}",
        "namespace": meta["namespace"],
        "labels": {**(template_meta.get("labels") or {}), HASH_LABEL: template_hash},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if template_meta.get("annotations"):
        pod_meta["annotations"] = dict(template_meta["annotations"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def _condition(kind: str, ok: bool, now: str, names: list[str]) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastTransitionTime": now,
    }
    if not ok:
        condition["reason"] = "ContainersNotReady"
        condition["message"] = f"containers with unready status: [{' '.join(names)}]"
    return condition


def compute_pod_status(
    pod: dict[str, Any], *, ready: bool, ip: str, now: datetime
) -> dict[str, Any]:
    """The status of a running pod whose containers are (or never become) ready."""
    stamp = format_timestamp(now)
    containers = (pod.get("spec") or {}).get("containers") or []
    names = [c.get("name", "") for c in containers]
    return {
        "phase": "Running",
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
            {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
            _condition("ContainersReady", ready, stamp, names),
            _condition("Ready", ready, stamp, names),
        ],
        "hostIP": "10.0.0.1",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": stamp,
        "qosClass": "BestEffort",
        "containerStatuses": [
            {
                "name": c.get("name", ""),
                "image": c.get("image", ""),
                "imageID": "",
                "ready": ready,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": stamp}},
            }
            for c in containers
        ],
    }


def is_pod_ready(pod: dict[str, Any]) -> bool:
    """Whether the pod's Ready condition is True."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _max_unavailable(spec: dict[str, Any], desired: int) -> int:
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return desired * int(value[:-1]) // 100
    return int(value)


def _merge_condition(
    old: list[dict[str, Any]], kind: str, status: bool, reason: str, message: str, now: str
) -> dict[str, Any]:
    text = "True" if status else "False"
    previous = next((c for c in old if c.get("type") == kind), None)
    same_status = previous is not None and previous.get("status") == text
    same_all = same_status and (previous or {}).get("reason") == reason
    same_all = same_all and (previous or {}).get("message") == message
    return {
        "type": kind,
        "status": text,
        "lastUpdateTime": (previous or {}).get("lastUpdateTime", now) if same_all else now,
        "lastTransitionTime": (previous or {}).get("lastTransitionTime", now)
        if same_status
        else now,
        "reason": reason,
        "message": message,
    }


def _progressing(complete: bool, deadline_exceeded: bool, rs_name: str) -> tuple[bool, str, str]:
    if complete:
        return (
            True,
            "NewReplicaSetAvailable",
            f'ReplicaSet "{rs_name}" has successfully progressed.',
        )
    if deadline_exceeded:
        return (
            False,
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{rs_name}" has timed out progressing.',
        )
    return True, "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'


def compute_deployment_status(
    deployment: dict[str, Any],
    pods: list[dict[str, Any]],
    *,
    template_hash: str,
    deadline_exceeded: bool,
    now: datetime,
) -> dict[str, Any]:
    """The Deployment status for its current ``pods`` (zero counts omitted, as upstream)."""
    spec = deployment.get("spec") or {}
    desired = int(spec.get("replicas", 1))
    updated = [
        p for p in pods if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == template_hash
    ]
    available = sum(1 for p in pods if is_pod_ready(p))
    counts = {
        "replicas": len(pods),
        "updatedReplicas": len(updated),
        "readyReplicas": available,
        "availableReplicas": available,
        "unavailableReplicas": max(len(pods), desired) - available,
    }
    complete = len(updated) == len(pods) == available == desired
    old = (deployment.get("status") or {}).get("conditions") or []
    stamp = format_timestamp(now)
    enough = available >= desired - _max_unavailable(spec, desired)
    rs_name = f"{deployment['metadata']['name']}-{template_hash}"
    return {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        **{k: v for k, v in counts.items() if v},
        "conditions": [
            _merge_condition(
                old,
                "Available",
                enough,
                "MinimumReplicasAvailable" if enough else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if enough
                else "Deployment does not have minimum availability.",
                stamp,
            ),
            _merge_condition(
                old, "Progressing", *_progressing(complete, deadline_exceeded, rs_name), stamp
            ),
        ],
    }
