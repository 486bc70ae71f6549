"""The ClusterReleasePolicy CRD: in sync with the checked-in copy, structural, valid, and
it admits the example policy and rejects a malformed one (as the API server would)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from mlrollout.spec.crd import release_policy_crd_manifest

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "examples" / "crd" / "clusterreleasepolicy.yaml"
EXAMPLE = ROOT / "examples" / "policy" / "clusterreleasepolicy.yaml"


def _schema() -> dict[str, Any]:
    version = release_policy_crd_manifest()["spec"]["versions"][0]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_checked_in_crd_matches_the_models() -> None:
    assert yaml.safe_load(CHECKED_IN.read_text()) == release_policy_crd_manifest(), (
        "examples/crd/clusterreleasepolicy.yaml is stale: run `mlrollout manifests crd "
        "--kind ClusterReleasePolicy > examples/crd/clusterreleasepolicy.yaml`"
    )


def test_crd_is_a_valid_cluster_scoped_kubernetes_object() -> None:
    manifest = release_policy_crd_manifest()
    kubernetes_validate.validate(manifest, "1.30", strict=True)
    assert manifest["spec"]["scope"] == "Cluster"


def _nodes(node: Any) -> list[dict[str, Any]]:
    if not isinstance(node, dict):
        return []
    out = [node]
    for child in node.get("properties", {}).values():
        out += _nodes(child)
    out += _nodes(node.get("items"))
    out += _nodes(node.get("additionalProperties"))
    return out


def test_schema_is_structural() -> None:
    for node in _nodes(_schema()):
        assert not {"$ref", "anyOf", "$defs"} & set(node)
        assert "type" in node


@pytest.mark.parametrize(
    ("patch", "valid"),
    [({}, True), ({"podSecurity": "privileged"}, False), ({"namespaceSelector": "all"}, False)],
    ids=["example", "bad-level", "bad-selector"],
)
def test_schema_admits_the_example_policy(patch: dict[str, Any], valid: bool) -> None:
    obj = yaml.safe_load(EXAMPLE.read_text())
    obj["spec"].update(patch)
    errors = list(
        jsonschema.Draft4Validator(_schema()["properties"]["spec"]).iter_errors(obj["spec"])
    )
    assert (not errors) is valid
