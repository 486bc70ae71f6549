"""The API verbs on a parsed route: get, list, watch, create, update, patch, delete.

Sits between ``handler`` (HTTP framing, faults) and the ``store``. Returns an
:class:`ApiResponse` or, for ``?watch=true``, a ``watching.WatchPlan`` the handler streams.
Not served (a 400/405, never silently wrong): ``dryRun``, server-side apply, deletecollection.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .failures import StatusError
from .kinds import ResourceKind
from .lifecycle import assess_body
from .patches import compute_patched
from .routing import NamespaceRoute, Route
from .scale import compute_scale, compute_scaled
from .selectors import parse_field_selector, parse_label_selector
from .store import ObjectStore, WriteContext
from .watching import WatchPlan

__all__ = ["ApiRequest", "ApiResponse", "serve_request"]


@dataclass(frozen=True)
class ApiRequest:
    """One request as the handler read it."""

    verb: str
    path: str
    query: Mapping[str, str]
    body: Any
    content_type: str = "application/json"
    max_watch_seconds: float = 60.0


@dataclass(frozen=True)
class ApiResponse:
    """The HTTP code and JSON body to send."""

    code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _not_allowed(verb: str) -> StatusError:
    return StatusError(f"the server does not allow this method ({verb}) on the resource", code=405)


def _namespace(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {**(labels or {}), "kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def _serve_namespace(store: ObjectStore, request: ApiRequest, route: NamespaceRoute) -> ApiResponse:
    labels = store.namespace_labels
    if request.verb == "GET" and route.name is not None:
        return ApiResponse(200, _namespace(route.name, labels.get(route.name)))
    if request.verb == "GET":
        items = [_namespace(name, labels[name]) for name in sorted(labels)]
        return ApiResponse(200, {"apiVersion": "v1", "kind": "NamespaceList", "items": items})
    if request.verb == "POST" and route.name is None and isinstance(request.body, dict):
        return ApiResponse(201, _namespace((request.body.get("metadata") or {}).get("name", "")))
    raise _not_allowed(request.verb)


def _encode_continue(key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError) as error:
        raise StatusError.bad_request("invalid continue token") from error
    return str(namespace), str(name)


def _list(store: ObjectStore, request: ApiRequest, route: Route) -> ApiResponse:
    labels = parse_label_selector(request.query.get("labelSelector"))
    fields = parse_field_selector(request.query.get("fieldSelector"), route.kind)
    items, version = store.list_objects(route.kind, route.namespace)
    selected = [
        o for o in items if labels.matches(o["metadata"].get("labels")) and fields.matches(o)
    ]
    meta: dict[str, Any] = {"resourceVersion": str(version)}
    if token := request.query.get("continue"):
        after = _decode_continue(token)
        selected = [o for o in selected if _key(o) > after]
    limit = int(request.query.get("limit") or 0)
    if 0 < limit < len(selected):
        selected = selected[:limit]
        meta["continue"] = _encode_continue(_key(selected[-1]))
    body = {
        "apiVersion": route.kind.api_version,
        "kind": route.kind.list_kind,
        "metadata": meta,
        "items": selected,
    }
    return ApiResponse(200, body)


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _watch_plan(request: ApiRequest, route: Route) -> WatchPlan:
    field_text = request.query.get("fieldSelector") or ""
    if route.name is not None:
        field_text = ",".join(t for t in (field_text, f"metadata.name={route.name}") if t)
    version = request.query.get("resourceVersion") or "0"
    if not version.isdigit():
        raise StatusError.bad_request(f"invalid resourceVersion {version!r}")
    timeout = float(request.query.get("timeoutSeconds") or request.max_watch_seconds)
    return WatchPlan(
        kind=route.kind,
        namespace=route.namespace,
        labels=parse_label_selector(request.query.get("labelSelector")),
        fields=parse_field_selector(field_text, route.kind),
        resource_version=int(version),
        timeout=min(timeout, request.max_watch_seconds),
    )


def _present(route: Route, obj: dict[str, Any]) -> dict[str, Any]:
    return compute_scale(obj) if route.subresource == "scale" else obj


def _mutation(route: Route, request: ApiRequest) -> Any:
    kind, body = route.kind, request.body
    if route.subresource == "scale" and request.verb == "PUT":
        return lambda current: compute_scaled(kind, current, body)
    if route.subresource == "scale":
        return lambda current: compute_scaled(
            kind,
            current,
            compute_patched(kind, compute_scale(current), body, content_type=request.content_type),
        )
    if request.verb == "PUT":
        return lambda current: body
    return lambda current: compute_patched(kind, current, body, content_type=request.content_type)


def _write(store: ObjectStore, request: ApiRequest, route: Route) -> ApiResponse:
    assert route.name is not None
    if request.verb == "PUT" and route.subresource != "scale":
        # as the real handler: a body that does not match its URL is refused before lookup
        assess_body(route.kind, request.body, namespace=route.namespace, name=route.name)
    context = WriteContext(request.verb, request.path, subresource=route.subresource or "")
    updated = store.update(
        route.kind, route.namespace, route.name, _mutation(route, request), write=context
    )
    return ApiResponse(200, _present(route, updated))


def _deleted_status(kind: ResourceKind, obj: dict[str, Any]) -> dict[str, Any]:
    details = {"name": obj["metadata"]["name"], "kind": kind.plural, "uid": obj["metadata"]["uid"]}
    if kind.group:
        details["group"] = kind.group
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


def _delete(store: ObjectStore, request: ApiRequest, route: Route) -> ApiResponse:
    assert route.name is not None
    options = request.body if isinstance(request.body, dict) else {}
    gone = store.delete(
        route.kind,
        route.namespace,
        route.name,
        preconditions=options.get("preconditions") or {},
        write=WriteContext("DELETE", request.path),
    )
    body = gone if route.kind.delete_returns_object else _deleted_status(route.kind, gone)
    return ApiResponse(200, body)


def _serve_collection(store: ObjectStore, request: ApiRequest, route: Route) -> ApiResponse:
    if request.verb == "GET":
        return _list(store, request, route)
    if request.verb == "POST" and (route.namespace is not None or not route.kind.namespaced):
        created = store.create(
            route.kind, route.namespace, request.body, write=WriteContext("POST", request.path)
        )
        return ApiResponse(201, created)
    raise _not_allowed(request.verb)


def _serve_object(store: ObjectStore, request: ApiRequest, route: Route) -> ApiResponse:
    assert route.name is not None
    if request.verb == "GET":
        return ApiResponse(200, _present(route, store.get(route.kind, route.namespace, route.name)))
    if request.verb in ("PUT", "PATCH"):
        return _write(store, request, route)
    if request.verb == "DELETE" and route.subresource is None:
        return _delete(store, request, route)
    raise _not_allowed(request.verb)


def serve_request(
    store: ObjectStore, request: ApiRequest, route: Route | NamespaceRoute
) -> ApiResponse | WatchPlan:
    """Perform ``request`` on ``route``: a response, or the plan of a watch to stream."""
    if isinstance(route, NamespaceRoute):
        return _serve_namespace(store, request, route)
    if request.query.get("dryRun"):
        raise StatusError.bad_request("dryRun is not supported by the test API server")
    if request.verb == "GET" and request.query.get("watch", "").lower() in ("true", "1"):
        return _watch_plan(request, route)
    if route.name is None:
        return _serve_collection(store, request, route)
    return _serve_object(store, request, route)
