"""Discovery documents: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<g>[/<v>]``.

Pure; built from the ``kinds`` table and answered by ``handler`` for GETs it cannot route to
a resource. Enough for the official client's ``VersionApi``, ``CoreApi``, ``ApisApi`` and
the dynamic client's resource lookup (aggregated discovery is not served).
"""

from __future__ import annotations

from typing import Any

from .kinds import KINDS, ResourceKind

__all__ = ["SERVER_VERSION", "compute_discovery"]

SERVER_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-04-17T00:00:00Z",
    "goVersion": "go1.22.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _group_versions() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for kind in KINDS:
        if kind.group and kind.version not in groups.setdefault(kind.group, []):
            groups[kind.group].append(kind.version)
    return groups


def _resources(kind: ResourceKind) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": kind.plural,
        "singularName": kind.singular,
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": _VERBS,
    }
    if kind.short_names:
        main["shortNames"] = list(kind.short_names)
    entries = [main]
    for sub in kind.subresources:
        entries.append(
            {
                "name": f"{kind.plural}/{sub}",
                "singularName": "",
                "namespaced": kind.namespaced,
                "kind": "Scale" if sub == "scale" else kind.kind,
                "verbs": ["get", "patch", "update"],
                **({"group": "autoscaling", "version": "v1"} if sub == "scale" else {}),
            }
        )
    return entries


def _resource_list(group: str, version: str) -> dict[str, Any] | None:
    kinds = [k for k in KINDS if k.group == group and k.version == version]
    if not kinds:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for k in kinds for entry in _resources(k)],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def compute_discovery(path: str, *, server_address: str) -> dict[str, Any] | None:
    """The discovery document served at ``path``, or None if ``path`` is not one."""
    segments = [s for s in path.split("/") if s]
    groups = _group_versions()
    if segments == ["version"]:
        return dict(SERVER_VERSION)
    if segments == ["api"]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
            ],
        }
    if segments == ["apis"]:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [_group(name, versions) for name, versions in groups.items()],
        }
    if len(segments) == 2 and segments[0] == "api":
        return _resource_list("", segments[1])
    if len(segments) == 2 and segments[0] == "apis" and segments[1] in groups:
        return {"kind": "APIGroup", "apiVersion": "v1", **_group(segments[1], groups[segments[1]])}
    if len(segments) == 3 and segments[0] == "apis":
        return _resource_list(segments[1], segments[2])
    return None
