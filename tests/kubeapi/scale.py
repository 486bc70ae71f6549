"""The ``/scale`` subresource: a Deployment seen as an ``autoscaling/v1`` Scale and back.

Pure; used by ``operations`` for GET/PUT/PATCH on ``deployments/<name>/scale``. A Scale
write changes only ``spec.replicas`` of the Deployment (so it bumps ``generation``) and
carries the Scale's resourceVersion as the precondition.
"""

from __future__ import annotations

import copy
from typing import Any

from .failures import StatusError
from .kinds import ResourceKind

__all__ = ["compute_scale", "compute_scaled"]


def compute_scale(deployment: dict[str, Any]) -> dict[str, Any]:
    """The ``autoscaling/v1`` Scale of ``deployment``."""
    meta = deployment["metadata"]
    spec = deployment.get("spec") or {}
    match_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": int(spec.get("replicas", 1))},
        "status": {
            "replicas": int((deployment.get("status") or {}).get("replicas", 0)),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(match_labels.items())),
        },
    }


def compute_scaled(kind: ResourceKind, deployment: dict[str, Any], scale: Any) -> dict[str, Any]:
    """``deployment`` with the replicas of the written ``scale`` and its resourceVersion."""
    name = deployment["metadata"]["name"]
    if not isinstance(scale, dict) or scale.get("kind", "Scale") != "Scale":
        raise StatusError.bad_request("the body of a scale request must be a Scale object")
    scale_name = (scale.get("metadata") or {}).get("name", name)
    if scale_name != name:
        raise StatusError.bad_request(
            f"the name of the object ({scale_name}) does not match the name on the URL ({name})"
        )
    replicas = (scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise StatusError.invalid(
            kind,
            name,
            field="spec.replicas",
            detail=f"Invalid value: {replicas!r}: must be a non-negative integer",
        )
    result = copy.deepcopy(deployment)
    result.setdefault("spec", {})["replicas"] = replicas
    version = (scale.get("metadata") or {}).get("resourceVersion")
    result["metadata"]["resourceVersion"] = version or ""
    return result
