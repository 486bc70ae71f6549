"""The CustomResourceDefinitions (ModelRollout, AnalysisTemplate, ClusterAnalysisTemplate),
generated from the pydantic models.

Part of the ``spec`` layer. Pydantic's JSON schema is turned into a *structural* schema as
the API server requires: ``$ref`` inlined, nullable instead of ``anyOf [.., null]``, every
node typed, no ``additionalProperties: false`` beside ``properties``, no titles or defaults
(defaults are applied by mlrollout, so a stored object means what its author wrote).
"""

from __future__ import annotations

from typing import Any

from mlrollout.spec.base import API_GROUP
from mlrollout.spec.release_policy import ClusterReleasePolicySpec
from mlrollout.spec.rollout import ModelRolloutSpec
from mlrollout.spec.status import RolloutStatus
from mlrollout.spec.template import AnalysisTemplateSpec

__all__ = [
    "crd_manifest",
    "release_policy_crd_manifest",
    "structural_schema",
    "template_crd_manifest",
]

_DROP = {"title", "default", "examples", "discriminator", "$defs", "const_"}


def structural_schema(model: type[Any]) -> dict[str, Any]:
    """The structural openAPIV3Schema of a pydantic model (aliases, serialisation types)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    schema: dict[str, Any] = _convert(raw, defs, depth=0)
    return schema


def _convert(node: Any, defs: dict[str, Any], *, depth: int) -> Any:
    if depth > 40:
        raise ValueError("schema nests too deep (recursive model?)")
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs, depth=depth + 1)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        nullable = len(options) < len(node["anyOf"])
        if len(options) != 1:
            raise ValueError(f"cannot express union {node['anyOf']} structurally")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        converted: dict[str, Any] = _convert({**options[0], **rest}, defs, depth=depth + 1)
        if nullable:
            converted["nullable"] = True
        return converted
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {k: _convert(v, defs, depth=depth + 1) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value, defs, depth=depth + 1)
        elif key == "additionalProperties" and value is False:
            continue
        elif key == "exclusiveMinimum" and not isinstance(value, bool):
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum" and not isinstance(value, bool):
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key == "propertyNames":
            continue
        elif key == "patternProperties" and isinstance(value, dict) and len(value) == 1:
            # kube-apiserver refuses patternProperties: the values' schema stays, the key
            # pattern is checked by the models.
            out["additionalProperties"] = _convert(
                next(iter(value.values())), defs, depth=depth + 1
            )
        elif key == "multipleOf" and value != int(value):
            # kube-apiserver checks an integer value against int(factor), 0 for 0.01, and
            # refuses it ("must be positive"); the models still check fractional factors.
            continue
        elif key == "description" and isinstance(value, str):
            out[key] = value.replace("``", "`")
        else:
            out[key] = value
    if "type" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        if "enum" in out:
            out["type"] = "string"
        elif "properties" in out or "additionalProperties" in out:
            out["type"] = "object"
    return out


def crd_manifest() -> dict[str, Any]:
    """The CustomResourceDefinition object for ModelRollout."""
    columns = [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {
            "name": "Weight",
            "type": "number",
            "jsonPath": ".status.traffic.applied.canaryWeight",
            "description": "Percent of traffic on the candidate environment",
        },
        {"name": "Active", "type": "string", "jsonPath": ".status.activeEnv"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return _crd(
        "ModelRollout",
        plural="modelrollouts",
        scope="Namespaced",
        short="mro",
        spec=structural_schema(ModelRolloutSpec),
        status=structural_schema(RolloutStatus),
        columns=columns,
    )


def template_crd_manifest(*, cluster: bool) -> dict[str, Any]:
    """The CRD of AnalysisTemplate (namespaced) or ClusterAnalysisTemplate (cluster-wide).

    Both hold the same spec; as in Argo Rollouts, a namespaced template serves the rollouts
    of its namespace and a cluster template serves every namespace.
    """
    kind = "ClusterAnalysisTemplate" if cluster else "AnalysisTemplate"
    return _crd(
        kind,
        plural=kind.lower() + "s",
        scope="Cluster" if cluster else "Namespaced",
        short="cat" if cluster else "at",
        spec=structural_schema(AnalysisTemplateSpec),
    )


def release_policy_crd_manifest() -> dict[str, Any]:
    """The CustomResourceDefinition object for ClusterReleasePolicy (cluster-scoped)."""
    columns = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    return _crd(
        "ClusterReleasePolicy",
        plural="clusterreleasepolicies",
        scope="Cluster",
        short="crp",
        spec=structural_schema(ClusterReleasePolicySpec),
        columns=columns,
    )


def _crd(
    kind: str,
    *,
    plural: str,
    scope: str,
    short: str,
    spec: dict[str, Any],
    status: dict[str, Any] | None = None,
    columns: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A CRD of the group whose objects hold a ``spec`` and, given its schema, a ``status``
    written through the status subresource."""
    singular = kind.lower()
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": spec,
    }
    if status is not None:
        properties["status"] = status
    schema = {"type": "object", "required": ["spec"], "properties": properties}
    version: dict[str, Any] = {
        "name": "v1alpha1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
    }
    if status is not None:
        version["subresources"] = {"status": {}}
    if columns:
        version["additionalPrinterColumns"] = columns
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "scope": scope,
            "names": {
                "plural": plural,
                "singular": singular,
                "kind": kind,
                "listKind": f"{kind}List",
                "shortNames": [short],
                "categories": ["mlrollout"],
            },
            "versions": [version],
        },
    }
