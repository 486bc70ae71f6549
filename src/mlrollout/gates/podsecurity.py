"""Pod Security "restricted" (and baseline) checks on a pod template, every finding kept.

Pure: takes ``spec.template`` of a Deployment as a plain dict (the kube layer fetches it)
and returns ``Finding``s with a field path, rule name and message. ``hardening`` adds
mlrollout's extra rules; ``assess_pod_template`` there runs both and builds the result.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ALLOWED_VOLUME_TYPES", "Finding", "assess_restricted", "iter_containers"]

ALLOWED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "downwardAPI",
        "emptyDir",
        "projected",
        "secret",
        "csi",
        "persistentVolumeClaim",
        "ephemeral",
        "image",
    }
)
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_SECCOMP_OK = frozenset({"RuntimeDefault", "Localhost"})


@dataclass(frozen=True)
class Finding:
    """One rule a template breaks: where, which rule, why; ``error`` or ``warning``."""

    path: str
    rule: str
    message: str
    severity: str = "error"


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def iter_containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(field path, container)`` for every init, app and ephemeral container."""
    for key in _CONTAINER_LISTS:
        for index, container in enumerate(spec.get(key) or []):
            yield f"spec.{key}[{index}]", _obj(container)


def assess_restricted(template: Mapping[str, Any]) -> list[Finding]:
    """Every baseline and restricted violation in ``template`` (a pod template dict)."""
    spec = _obj(template.get("spec"))
    pod_sc = _obj(spec.get("securityContext"))
    findings = [*_pod_level(spec), *_volumes(spec)]
    for path, container in iter_containers(spec):
        findings += _container(path, container, pod_sc)
    return findings


def _pod_level(spec: Mapping[str, Any]) -> Iterator[Finding]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field) is True:
            yield Finding(f"spec.{field}", "host-namespaces", f"{field} must not be true")


def _volumes(spec: Mapping[str, Any]) -> Iterator[Finding]:
    for index, volume in enumerate(spec.get("volumes") or []):
        kinds = set(_obj(volume)) - {"name"}
        path = f"spec.volumes[{index}]"
        if "hostPath" in kinds:
            yield Finding(f"{path}.hostPath", "host-path", "hostPath volumes are forbidden")
        elif kinds - ALLOWED_VOLUME_TYPES:
            bad = ", ".join(sorted(kinds - ALLOWED_VOLUME_TYPES))
            yield Finding(path, "volume-types", f"volume type {bad} is not allowed")


def _effective(container_sc: Mapping[str, Any], pod_sc: Mapping[str, Any], key: str) -> Any:
    return container_sc[key] if key in container_sc else pod_sc.get(key)


def _container(path: str, container: Mapping[str, Any], pod_sc: Mapping[str, Any]) -> list[Finding]:
    sc = _obj(container.get("securityContext"))
    where = f"{path}.securityContext"
    found: list[Finding] = []
    if sc.get("privileged") is True:
        found.append(Finding(f"{where}.privileged", "privileged", "must not be privileged"))
    if sc.get("allowPrivilegeEscalation") is not False:
        found.append(
            Finding(
                f"{where}.allowPrivilegeEscalation",
                "allow-privilege-escalation",
                "must be set to false",
            )
        )
    found += _capabilities(where, _obj(sc.get("capabilities")))
    found += _identity(where, sc, pod_sc)
    seccomp = _obj(_effective(sc, pod_sc, "seccompProfile")).get("type")
    if seccomp not in _SECCOMP_OK:
        found.append(
            Finding(
                f"{where}.seccompProfile.type",
                "seccomp",
                f"must be RuntimeDefault or Localhost, got {seccomp!r}",
            )
        )
    for index, port in enumerate(container.get("ports") or []):
        if _obj(port).get("hostPort"):
            found.append(
                Finding(f"{path}.ports[{index}].hostPort", "host-ports", "hostPort must not be set")
            )
    return found


def _capabilities(where: str, caps: Mapping[str, Any]) -> Iterator[Finding]:
    if "ALL" not in (caps.get("drop") or []):
        yield Finding(f"{where}.capabilities.drop", "capabilities", "must drop ALL")
    added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        yield Finding(
            f"{where}.capabilities.add",
            "capabilities",
            f"may add only NET_BIND_SERVICE, adds {sorted(added)}",
        )


def _identity(where: str, sc: Mapping[str, Any], pod_sc: Mapping[str, Any]) -> Iterator[Finding]:
    if _effective(sc, pod_sc, "runAsNonRoot") is not True:
        yield Finding(f"{where}.runAsNonRoot", "run-as-non-root", "must be true")
    uid = _effective(sc, pod_sc, "runAsUser")
    if uid == 0:
        yield Finding(f"{where}.runAsUser", "run-as-user", "must not be 0")
    elif not isinstance(uid, int) or isinstance(uid, bool):
        yield Finding(f"{where}.runAsUser", "run-as-user", "must be set to a numeric UID")
