"""AdmissionReview v1 in and out: the images a reviewed object would run, and the answer.

Pure part of the ``admission`` package (``checker`` decides, ``server`` speaks HTTP). Knows
where a pod spec sits in a Pod and in the workload kinds whose template makes pods
(Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob), and lists every container,
init container and ephemeral container image with the field that holds it. A body that is
not an AdmissionReview is a ``SpecError`` (HTTP 400); an object that cannot be read is
denied by ``checker`` with the error's message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlrollout.errors import SpecError

__all__ = [
    "API_VERSION",
    "ImageUse",
    "ReviewRequest",
    "build_response",
    "parse_review",
]

API_VERSION = "admission.k8s.io/v1"

# Where each reviewed kind (by API group and kind) keeps the pod spec, as object keys.
_TEMPLATE = ("spec", "template", "spec")
POD_SPEC_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("apps", "Deployment"): _TEMPLATE,
    ("apps", "ReplicaSet"): _TEMPLATE,
    ("apps", "StatefulSet"): _TEMPLATE,
    ("apps", "DaemonSet"): _TEMPLATE,
    ("batch", "Job"): _TEMPLATE,
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_CHECKED_OPERATIONS = ("CREATE", "UPDATE")


@dataclass(frozen=True)
class ImageUse:
    """One image reference and the field that holds it (``spec.containers[0].image``)."""

    field: str
    image: str


@dataclass(frozen=True)
class ReviewRequest:
    """What is reviewed: the request uid, the object's kind and namespace, its images.

    ``problem`` is set when the object could not be read (it is then denied).
    """

    uid: str
    kind: str
    namespace: str
    operation: str
    images: tuple[ImageUse, ...]
    problem: str | None = None

    @property
    def checked(self) -> bool:
        """Whether this request creates or changes something that runs images."""
        return self.operation in _CHECKED_OPERATIONS


def parse_review(body: bytes) -> ReviewRequest:
    """Decode an AdmissionReview; ``SpecError`` when it is not one (answer HTTP 400)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise SpecError("body is not JSON", path="AdmissionReview") from None
    if not isinstance(doc, dict) or doc.get("kind") != "AdmissionReview":
        raise SpecError("must be an AdmissionReview object", path="kind")
    if doc.get("apiVersion") != API_VERSION:
        raise SpecError(f"must be {API_VERSION!r}", path="apiVersion")
    request = doc.get("request")
    if not isinstance(request, dict):
        raise SpecError("missing", path="request")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid or len(uid) > 128:
        raise SpecError("must be a non-empty string", path="request.uid")
    kind = _text(request.get("kind"), "kind")
    group = _text(request.get("kind"), "group")
    namespace = request.get("namespace") if isinstance(request.get("namespace"), str) else ""
    operation = request.get("operation") if isinstance(request.get("operation"), str) else ""
    base = ReviewRequest(uid, kind, str(namespace), str(operation), ())
    if operation not in _CHECKED_OPERATIONS:
        return base
    try:
        images = _images(group, kind, request.get("object"))
    except SpecError as exc:
        return ReviewRequest(uid, kind, base.namespace, base.operation, (), problem=str(exc))
    return ReviewRequest(uid, kind, base.namespace, base.operation, images)


def _text(node: Any, key: str) -> str:
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, str) else ""


def _images(group: str, kind: str, obj: Any) -> tuple[ImageUse, ...]:
    path = POD_SPEC_PATHS.get((group, kind))
    if path is None:
        name = f"{group}/{kind}" if group else kind or "?"
        raise SpecError(f"kind {name!r} is not one mlrollout admission reviews")
    node = obj
    for depth, key in enumerate(path):
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            raise SpecError("missing or not an object", path=".".join(path[: depth + 1]))
        node = node[key]
    prefix = ".".join(path)
    uses: list[ImageUse] = []
    for list_name in _CONTAINER_LISTS:
        containers = node.get(list_name, [])
        if containers is None:
            continue
        if not isinstance(containers, list):
            raise SpecError("must be a list", path=f"{prefix}.{list_name}")
        for i, container in enumerate(containers):
            field = f"{prefix}.{list_name}[{i}].image"
            image = container.get("image") if isinstance(container, dict) else None
            if not isinstance(image, str) or not image:
                raise SpecError("must be a non-empty string", path=field)
            uses.append(ImageUse(field, image))
    return tuple(uses)


def build_response(uid: str, *, allowed: bool, message: str) -> dict[str, Any]:
    """The AdmissionReview answer; a denial carries HTTP 403 and a one-line message."""
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if not allowed:
        one_line = " ".join(message.split())[:1024]
        response["status"] = {"code": 403, "reason": "Forbidden", "message": one_line}
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}
