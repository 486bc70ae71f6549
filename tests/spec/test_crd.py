"""The generated CRD: in sync with the checked-in copy, structural, and a valid object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mlrollout.spec.crd import crd_manifest
from mlrollout.spec.yamlfile import parse_yaml_documents

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "examples" / "crd" / "modelrollout.yaml"


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_checked_in_crd_matches_the_models() -> None:
    stored = yaml.safe_load(CHECKED_IN.read_text())
    assert stored == crd_manifest(), (
        "examples/crd/modelrollout.yaml is stale: run "
        "`mlrollout manifests crd > examples/crd/modelrollout.yaml`"
    )


def test_crd_is_a_valid_kubernetes_object() -> None:
    kubernetes_validate.validate(crd_manifest(), "1.30", strict=True)


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(node, dict):
        return out
    out.append((path, node))
    for key, child in node.get("properties", {}).items():
        out += _walk(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        out += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        out += _walk(node["additionalProperties"], f"{path}{{}}")
    return out


def test_schema_is_structural() -> None:
    for path, node in _walk(_schema()):
        assert not {"$ref", "anyOf", "$defs"} & set(node), path
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        if "properties" in node:
            assert "additionalProperties" not in node, path


def test_status_subresource_and_printer_columns() -> None:
    version = crd_manifest()["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase",
        "Weight": ".status.traffic.applied.canaryWeight",
        "Active": ".status.activeEnv",
        "Age": ".metadata.creationTimestamp",
    }


def _validate(instance: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """A small structural-schema checker: types, enums, required, patterns are enough here."""
    import re

    if instance is None:
        return [] if schema.get("nullable") else [f"{path}: null"]
    errors: list[str] = []
    kind = schema.get("type")
    checks = {"object": dict, "array": list, "string": str, "boolean": bool}
    if kind in checks and not isinstance(instance, checks[kind]):
        return [f"{path}: expected {kind}"]
    if kind in ("number", "integer") and (
        isinstance(instance, bool) or not isinstance(instance, (int, float))
    ):
        return [f"{path}: expected {kind}"]
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{path}: {instance!r} not in enum")
    if kind == "string" and "pattern" in schema and not re.search(schema["pattern"], instance):
        errors.append(f"{path}: pattern")
    if kind == "object":
        for name in schema.get("required", []):
            if name not in instance:
                errors.append(f"{path}.{name}: required")
        props = schema.get("properties", {})
        for key, value in instance.items():
            if key in props:
                errors += _validate(value, props[key], f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += _validate(value, schema["additionalProperties"], f"{path}.{key}")
            elif not schema.get("x-kubernetes-preserve-unknown-fields") and path != ".metadata":
                errors.append(f"{path}.{key}: unknown (would be pruned)")
    if kind == "array":
        for i, item in enumerate(instance):
            errors += _validate(item, schema.get("items", {}), f"{path}[{i}]")
    return errors


@pytest.mark.parametrize("name", ["canary.yaml", "blue-green.yaml", "gateway-canary.yaml"])
def test_examples_validate_against_the_crd_schema(name: str) -> None:
    [obj] = parse_yaml_documents((ROOT / "examples" / name).read_text(), source=name)
    assert _validate(obj, _schema()) == []


def test_the_schema_checker_catches_a_tag_only_image() -> None:
    [obj] = parse_yaml_documents((ROOT / "examples" / "canary.yaml").read_text(), source="c")
    obj["spec"]["release"]["image"] = "fraud:latest"
    assert _validate(obj, _schema()) == [".spec.release.image: pattern"]


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("AnalysisTemplate", "analysistemplate.yaml"),
        ("ClusterAnalysisTemplate", "clusteranalysistemplate.yaml"),
    ],
)
def test_template_crds_are_checked_in_valid_and_free_of_anchors(kind: str, name: str) -> None:
    from mlrollout.cli.manifests import CRDS, render_crd

    path = ROOT / "examples" / "crd" / name
    assert yaml.safe_load(path.read_text()) == CRDS[kind]()
    assert path.read_text() == render_crd(kind)
    kubernetes_validate.validate(CRDS[kind](), "1.30", strict=True)


def test_generated_crd_yaml_has_no_anchors() -> None:
    from mlrollout.cli.manifests import render_crd

    text = render_crd()
    assert "&id" not in text
    assert "*id" not in text
