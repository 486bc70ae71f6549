"""Write semantics of the API server: what a create or an update stores.

Pure; called by the ``store`` under its lock. Owns the rules the brief names: request bodies
must match their URL (kind, apiVersion, name, namespace), system metadata (``uid``,
``creationTimestamp``, ``generation``) is server-owned, ``generation`` moves on spec changes
only, the ``/status`` subresource split, resourceVersion/uid preconditions, and the few
semantic validations controllers meet (names, Deployment selectors).
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any

from .defaults import compute_defaulted
from .failures import StatusError
from .kinds import ResourceKind

__all__ = [
    "assess_body",
    "assess_precondition",
    "compute_created",
    "compute_updated",
    "format_timestamp",
]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_INITIAL_STATUS: dict[str, dict[str, Any]] = {
    "Pod": {"phase": "Pending"},
    "Deployment": {},
    "Service": {"loadBalancer": {}},
}
_SERVER_METADATA = ("uid", "creationTimestamp", "generation", "namespace", "name")


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as ``metadata.creationTimestamp`` is written."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _assess_type(kind: ResourceKind, body: dict[str, Any]) -> None:
    for field, expected in (("apiVersion", kind.api_version), ("kind", kind.kind)):
        value = body.get(field)
        if value is None and kind.custom:
            raise StatusError.bad_request(f"Object '{field}' is missing in the request body")
        if value is not None and value != expected:
            raise StatusError.bad_request(
                f"the {field} in the data ({value}) does not match the expected {field} "
                f"({expected})"
            )


def _assess_name(kind: ResourceKind, name: str) -> None:
    pattern, limit = (_LABEL_1035, 63) if kind.kind == "Service" else (_SUBDOMAIN, 253)
    if len(name) > limit or not pattern.match(name):
        raise StatusError.invalid(
            kind,
            name,
            field="metadata.name",
            detail=f'Invalid value: "{name}": must be a lowercase RFC 1123 name',
        )


def assess_body(
    kind: ResourceKind, body: Any, *, namespace: str | None, name: str | None
) -> dict[str, Any]:
    """Check a create (``name`` None) or update body against its URL; a normalised copy.

    Missing ``apiVersion``/``kind`` default from the URL for built-in kinds (as the real
    decoder does); a mismatch is a 400, a missing name a 422.
    """
    if not isinstance(body, dict):
        raise StatusError.bad_request("the body of the request must be a JSON object")
    _assess_type(kind, body)
    obj = copy.deepcopy(body)
    obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise StatusError.bad_request("metadata must be a JSON object")
    body_namespace = meta.get("namespace")
    if kind.namespaced and body_namespace and body_namespace != namespace:
        raise StatusError.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if kind.namespaced:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if name is not None and meta.get("name") != name:
        raise StatusError.bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL "
            f"({name})"
        )
    if name is None and not meta.get("name") and not meta.get("generateName"):
        raise StatusError.invalid(
            kind, "", field="metadata.name", detail="Required value: name or generateName"
        )
    return obj


def _assess_deployment(kind: ResourceKind, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    name = obj["metadata"]["name"]
    spec = obj.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not selector:
        raise StatusError.invalid(kind, name, field="spec.selector", detail="Required value")
    if any(labels.get(k) != v for k, v in selector.items()):
        raise StatusError.invalid(
            kind,
            name,
            field="spec.template.metadata.labels",
            detail="Invalid value: `selector` does not match template `labels`",
        )
    if old is not None and (old.get("spec") or {}).get("selector") != spec.get("selector"):
        raise StatusError.invalid(kind, name, field="spec.selector", detail="field is immutable")


def _assess_semantics(kind: ResourceKind, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    _assess_name(kind, obj["metadata"]["name"])
    if kind.kind == "Deployment":
        _assess_deployment(kind, obj, old)


def compute_created(
    kind: ResourceKind,
    obj: dict[str, Any],
    *,
    uid: str,
    resource_version: int,
    now: datetime,
    name_suffix: str,
) -> dict[str, Any]:
    """The object a create stores, from the body checked by :func:`assess_body`."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    if meta.get("resourceVersion"):
        raise StatusError.bad_request("resourceVersion should not be set on objects to be created")
    if not meta.get("name"):
        meta["name"] = f"{meta['generateName']}{name_suffix}"
    for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"):
        meta.pop(field, None)
    meta.update(
        uid=uid, resourceVersion=str(resource_version), creationTimestamp=format_timestamp(now)
    )
    if kind.tracks_generation:
        meta["generation"] = 1
    if kind.status_subresource and kind.reset_status_on_create:
        obj.pop("status", None)
        if kind.kind in _INITIAL_STATUS:
            obj["status"] = copy.deepcopy(_INITIAL_STATUS[kind.kind])
    compute_defaulted(kind.kind, obj)
    _assess_semantics(kind, obj, None)
    return obj


def assess_precondition(kind: ResourceKind, current: dict[str, Any], new: dict[str, Any]) -> None:
    """409 when ``new`` carries a resourceVersion or uid other than ``current``'s."""
    name = current["metadata"]["name"]
    wanted = (new.get("metadata") or {}).get("resourceVersion")
    if wanted and wanted != current["metadata"]["resourceVersion"]:
        raise StatusError.conflict(
            kind,
            name,
            "the object has been modified; please apply your changes to the latest version "
            "and try again",
        )
    uid = (new.get("metadata") or {}).get("uid")
    if uid and uid != current["metadata"]["uid"]:
        raise StatusError.conflict(
            kind,
            name,
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
            f"{current['metadata']['uid']}",
        )


def _spec_part(kind: ResourceKind, obj: dict[str, Any]) -> dict[str, Any]:
    ignored = {"metadata", "status"} if kind.status_subresource else {"metadata"}
    return {k: v for k, v in obj.items() if k not in ignored}


def compute_updated(
    kind: ResourceKind,
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    subresource: str | None,
) -> dict[str, Any]:
    """What an update of ``old`` with ``new`` stores (resourceVersion still ``old``'s).

    ``/status`` writes keep everything but ``status`` from ``old``; main-resource writes of
    kinds with a status subresource keep ``old``'s status; ``generation`` is bumped when
    anything outside ``metadata`` (and ``status``, where split) changed.
    """
    if subresource == "status":
        result = copy.deepcopy(old)
        if "status" in new:
            result["status"] = copy.deepcopy(new["status"])
        else:
            result.pop("status", None)
        return result
    result = copy.deepcopy(new)
    result["apiVersion"], result["kind"] = kind.api_version, kind.kind
    meta = result.setdefault("metadata", {})
    for field in _SERVER_METADATA:
        meta.pop(field, None)
        if field in old["metadata"]:
            meta[field] = old["metadata"][field]
    meta["resourceVersion"] = old["metadata"]["resourceVersion"]
    if kind.status_subresource:
        result.pop("status", None)
        if "status" in old:
            result["status"] = copy.deepcopy(old["status"])
    compute_defaulted(kind.kind, result)
    _assess_semantics(kind, result, old)
    if kind.tracks_generation and _spec_part(kind, result) != _spec_part(kind, old):
        meta["generation"] = int(old["metadata"].get("generation", 0)) + 1
    return result
