"""AnalysisTemplates stored in the cluster, read for the controller.

Part of the ``kube`` layer. ``AnalysisTemplate`` objects serve the rollouts of their own
namespace; ``ClusterAnalysisTemplate`` objects (same spec, cluster-wide) serve every
namespace; a namespaced template shadows a cluster one of the same name. Each object is
validated by the same loader as a file; an invalid one is a ``SpecError`` naming it.
"""

from __future__ import annotations

from typing import Any

from mlrollout.errors import SpecError
from mlrollout.kube.client import KubeClient
from mlrollout.kube.kinds import ANALYSISTEMPLATES, CLUSTERANALYSISTEMPLATES
from mlrollout.spec import AnalysisTemplate, load_object

__all__ = ["read_templates"]


def read_templates(client: KubeClient, namespace: str) -> dict[str, AnalysisTemplate]:
    """Templates a rollout in ``namespace`` may reference, by name."""
    found = {t.name: t for t in map(_parse, client.list(CLUSTERANALYSISTEMPLATES, None))}
    found.update({t.name: t for t in map(_parse, client.list(ANALYSISTEMPLATES, namespace))})
    return found


def _parse(raw: dict[str, Any]) -> AnalysisTemplate:
    meta = raw.get("metadata") or {}
    kind = str(raw.get("kind") or "AnalysisTemplate")
    where = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p)
    source = f"{kind.lower()}/{where}"
    # Same spec under both kinds: validate as the AnalysisTemplate the loader knows.
    template = load_object({**raw, "kind": "AnalysisTemplate"}, source=source)
    if not isinstance(template, AnalysisTemplate):
        raise SpecError("expected an AnalysisTemplate", source=source)
    return template
