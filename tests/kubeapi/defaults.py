"""Field defaulting, applied to every create and update as the real server's decoder does.

Pure; called by ``lifecycle``. Only the defaults that change what a controller reads back
or compares are applied (the real server sets many more):

- Deployment: ``replicas`` 1, ``strategy`` RollingUpdate 25%/25%, ``revisionHistoryLimit``
  10, ``progressDeadlineSeconds`` 600;
- Service: ``type`` ClusterIP, ``sessionAffinity`` None, each port's ``protocol`` TCP and
  ``targetPort`` = ``port``; the cluster IP itself is allocated by the ``store``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compute_defaulted"]


def _default_deployment(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    spec.setdefault(
        "strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    )
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _default_service(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])


_DEFAULTERS = {"Deployment": _default_deployment, "Service": _default_service}


def compute_defaulted(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` (modified in place and returned) with the server-side defaults of ``kind``."""
    defaulter = _DEFAULTERS.get(kind)
    if defaulter is not None:
        defaulter(obj)
    return obj
