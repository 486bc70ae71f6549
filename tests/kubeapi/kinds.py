"""The resource kinds the test API server serves, and how each behaves.

One table, read by every other module of the package: ``routing`` maps URLs to these
entries, ``lifecycle`` applies their write rules (status subresource, generation), the
``store`` keys objects by them and ``discovery`` publishes them to the client.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "ResourceKind", "find_kind", "kind_by_name"]


@dataclass(frozen=True)
class ResourceKind:
    """One REST resource: its group/version/kind, URL plural and write rules."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    status_subresource: bool = False
    scale_subresource: bool = False
    tracks_generation: bool = False
    custom: bool = False
    reset_status_on_create: bool = True
    delete_returns_object: bool = False
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        """The kind of a list response, e.g. ``PodList``."""
        return f"{self.kind}List"

    @property
    def singular(self) -> str:
        """The singular resource name used in discovery."""
        return self.kind.lower()

    @property
    def resource_id(self) -> str:
        """``plural.group`` (``plural`` for the core group): the store's key for the kind."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def subresources(self) -> tuple[str, ...]:
        """The subresources served under each object of this kind."""
        names = []
        if self.status_subresource:
            names.append("status")
        if self.scale_subresource:
            names.append("scale")
        return tuple(names)


KINDS: tuple[ResourceKind, ...] = (
    ResourceKind(
        "",
        "v1",
        "Pod",
        "pods",
        status_subresource=True,
        delete_returns_object=True,
        short_names=("po",),
    ),
    ResourceKind(
        "",
        "v1",
        "Service",
        "services",
        status_subresource=True,
        delete_returns_object=True,
        short_names=("svc",),
    ),
    ResourceKind(
        "",
        "v1",
        "Node",
        "nodes",
        namespaced=False,
        status_subresource=True,
        reset_status_on_create=False,
        short_names=("no",),
    ),
    ResourceKind("", "v1", "Event", "events", short_names=("ev",)),
    ResourceKind("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    ResourceKind(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        status_subresource=True,
        scale_subresource=True,
        tracks_generation=True,
        short_names=("deploy",),
    ),
    ResourceKind("coordination.k8s.io", "v1", "Lease", "leases"),
    ResourceKind(
        "mlrollout.io",
        "v1alpha1",
        "ModelRollout",
        "modelrollouts",
        status_subresource=True,
        tracks_generation=True,
        custom=True,
        delete_returns_object=True,
        short_names=("mro",),
    ),
    ResourceKind(
        "mlrollout.io",
        "v1alpha1",
        "AnalysisTemplate",
        "analysistemplates",
        custom=True,
        delete_returns_object=True,
        short_names=("at",),
    ),
    ResourceKind(
        "mlrollout.io",
        "v1alpha1",
        "ClusterAnalysisTemplate",
        "clusteranalysistemplates",
        namespaced=False,
        custom=True,
        delete_returns_object=True,
        short_names=("cat",),
    ),
    ResourceKind(
        "mlrollout.io",
        "v1alpha1",
        "ClusterReleasePolicy",
        "clusterreleasepolicies",
        namespaced=False,
        custom=True,
        delete_returns_object=True,
        short_names=("crp",),
    ),
    ResourceKind(
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
        "httproutes",
        status_subresource=True,
        tracks_generation=True,
        custom=True,
        delete_returns_object=True,
    ),
)

_BY_PATH = {(k.group, k.version, k.plural): k for k in KINDS}
_BY_NAME = {k.kind: k for k in KINDS}


def find_kind(group: str, version: str, plural: str) -> ResourceKind | None:
    """The kind served at ``/apis/<group>/<version>/<plural>`` (core group: ``""``)."""
    return _BY_PATH.get((group, version, plural))


def kind_by_name(kind: str) -> ResourceKind:
    """The kind called ``kind`` (e.g. ``"Deployment"``); ``KeyError`` if not served."""
    return _BY_NAME[kind]
