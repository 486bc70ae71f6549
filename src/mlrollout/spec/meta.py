"""Kubernetes object metadata as the spec layer sees it.

Part of the ``spec`` layer. Files carry only ``name``, ``namespace``, labels and annotations;
objects read from the cluster carry server-set fields too (uid, resourceVersion, generation,
managedFields), which are accepted and kept for optimistic concurrency.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from mlrollout.spec.base import DnsLabel, DnsSubdomain, LabelMap, SpecModel

__all__ = ["ObjectMeta"]


class ObjectMeta(SpecModel):
    """``metadata``: a DNS-1123 name, a namespace, labels and annotations."""

    model_config = ConfigDict(extra="ignore")

    name: DnsSubdomain
    namespace: DnsLabel = "default"
    labels: LabelMap = Field(default_factory=dict)
    annotations: LabelMap = Field(default_factory=dict)
    uid: Annotated[str, StringConstraints(max_length=128)] | None = None
    resource_version: Annotated[str, StringConstraints(max_length=128)] | None = None
    generation: int | None = None
    creation_timestamp: Any = None
