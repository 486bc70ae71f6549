"""URL paths of the Kubernetes REST API, parsed into routes and built back from them.

Pure. ``handler`` parses each request path with :func:`parse_route`; the built-in
``deployments`` controller uses :func:`compute_object_path` to label its writes in the
history. Namespaces exist implicitly: ``/api/v1/namespaces/<ns>`` is answered with a
synthetic Namespace by ``operations``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .failures import StatusError
from .kinds import ResourceKind, find_kind

__all__ = ["NamespaceRoute", "Route", "compute_object_path", "parse_route"]


@dataclass(frozen=True)
class Route:
    """A resource URL: a collection (``name`` None), an object, or an object's subresource."""

    kind: ResourceKind
    namespace: str | None
    name: str | None
    subresource: str | None


@dataclass(frozen=True)
class NamespaceRoute:
    """``/api/v1/namespaces`` or ``/api/v1/namespaces/<name>``."""

    name: str | None


def _not_found() -> StatusError:
    return StatusError("the server could not find the requested resource", code=404)


def _split_scope(rest: list[str]) -> tuple[str | None, list[str]]:
    if len(rest) >= 3 and rest[0] == "namespaces":
        return rest[1], rest[2:]
    return None, rest


def parse_route(path: str) -> Route | NamespaceRoute:
    """The route of a resource ``path`` (no query string); 404 for anything not served."""
    segments = [s for s in path.split("/") if s]
    if len(segments) >= 3 and segments[0] == "api":
        group, version, rest = "", segments[1], segments[2:]
    elif len(segments) >= 4 and segments[0] == "apis":
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        raise _not_found()
    if group == "" and rest[0] == "namespaces" and len(rest) <= 2:
        return NamespaceRoute(rest[1] if len(rest) == 2 else None)
    namespace, rest = _split_scope(rest)
    kind = find_kind(group, version, rest[0])
    if kind is None or len(rest) > 3:
        raise _not_found()
    name = rest[1] if len(rest) >= 2 else None
    subresource = rest[2] if len(rest) == 3 else None
    if kind.namespaced != (namespace is not None) and (name is not None or not kind.namespaced):
        raise _not_found()
    if subresource is not None and subresource not in kind.subresources:
        raise _not_found()
    return Route(kind, namespace, name, subresource)


def compute_object_path(
    kind: ResourceKind,
    namespace: str | None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """The URL path of a collection, an object or a subresource."""
    parts = ["/api", kind.version] if not kind.group else ["/apis", kind.group, kind.version]
    if kind.namespaced and namespace is not None:
        parts += ["namespaces", namespace]
    parts.append(kind.plural)
    parts += [p for p in (name, subresource) if p is not None]
    return "/".join(parts)
