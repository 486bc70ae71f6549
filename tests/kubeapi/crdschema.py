"""The ModelRollout CRD's openAPIV3Schema: loading it, validating and pruning objects.

Used by ``server`` to admit ModelRollout writes as the real server does (422 Invalid on a
schema violation; unknown fields pruned and the pruned paths recorded in the write history)
and by ``validity`` to re-check the history. The CRD is a standard CustomResourceDefinition
(YAML file or dict); without one, any object is accepted. Structural-schema extensions are
honoured (``nullable``, ``x-kubernetes-int-or-string``, ``x-kubernetes-preserve-unknown-
fields``); CEL rules (``x-kubernetes-validations``) and formats are not evaluated.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .failures import StatusError
from .kinds import ResourceKind, kind_by_name

__all__ = [
    "CrdAdmission",
    "compute_json_schema",
    "compute_pruned",
    "load_crd_schema",
    "validate_against",
]

MODEL_ROLLOUT = kind_by_name("ModelRollout")
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_PARSED: dict[tuple[str, int, int], Any] = {}


def _read_document(path: Path) -> Any:
    """The parsed YAML file, parsed once per content version (every test server loads the
    same CRD; parsing it dominated the server's start)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _PARSED:
        _PARSED[key] = yaml.load(path.read_text(), Loader=_LOADER)
    return _PARSED[key]


def load_crd_schema(
    crd: Path | str | Mapping[str, Any], *, version: str = "v1alpha1"
) -> dict[str, Any]:
    """The openAPIV3Schema of ``version`` in a CustomResourceDefinition (path or dict)."""
    document = crd if isinstance(crd, Mapping) else _read_document(Path(crd))
    if not isinstance(document, Mapping) or document.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"{crd!r} is not a CustomResourceDefinition")
    for entry in (document.get("spec") or {}).get("versions") or []:
        if entry.get("name") == version:
            return copy.deepcopy(dict(entry["schema"]["openAPIV3Schema"]))
    raise ValueError(f"the CRD has no version {version!r}")


def compute_json_schema(schema: Any) -> Any:
    """A JSON Schema (draft 4) equivalent of a structural openAPIV3Schema."""
    if isinstance(schema, list):
        return [compute_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    result = {
        k: compute_json_schema(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")
    }
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result = {"anyOf": [{"type": "integer"}, {"type": "string"}], **result}
    if result.pop("nullable", False):
        result = {"anyOf": [{"type": "null"}, result]}
    return result


def _prune_map(value: dict[str, Any], schema: dict[str, Any], path: str, pruned: list[str]) -> None:
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    keep = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
    for key in list(value):
        if path == "" and key in _ROOT_FIELDS:
            continue
        child = properties.get(key) or (extra if isinstance(extra, dict) else None)
        if child is not None:
            _prune(value[key], child, f"{path}.{key}" if path else key, pruned)
        elif not keep:
            del value[key]
            pruned.append(f"{path}.{key}" if path else key)


def _prune(value: Any, schema: dict[str, Any], path: str, pruned: list[str]) -> None:
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema):
        _prune_map(value, schema, path, pruned)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _prune(item, schema["items"], f"{path}[{index}]", pruned)


def compute_pruned(
    obj: dict[str, Any], schema: dict[str, Any]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``obj`` without the fields ``schema`` does not declare, and the paths removed."""
    result, pruned = copy.deepcopy(obj), list[str]()
    _prune(result, schema, "", pruned)
    return result, tuple(pruned)


def _field_path(error: jsonschema.ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "<root>"


def validate_against(validator: jsonschema.protocols.Validator, obj: Any) -> list[str]:
    """Every violation of ``validator``'s schema in ``obj``, as ``field: message`` lines."""
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{_field_path(e)}: {e.message}" for e in errors]


class CrdAdmission:
    """Admission of custom-resource writes: ModelRollout against the CRD schema, if given,
    and other custom kinds (e.g. ClusterReleasePolicy) against theirs in ``others``."""

    def __init__(
        self, schema: dict[str, Any] | None, *, others: Mapping[str, dict[str, Any]] = {}
    ) -> None:
        self.schema = schema
        self.validator = (
            jsonschema.Draft4Validator(compute_json_schema(schema)) if schema is not None else None
        )
        self.others = {
            kind: (s, jsonschema.Draft4Validator(compute_json_schema(s)))
            for kind, s in others.items()
        }

    def __call__(
        self, kind: ResourceKind, obj: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Prune and validate ``obj``; 422 Invalid on the first violation."""
        if kind.kind in self.others:
            schema, validator = self.others[kind.kind]
        elif kind != MODEL_ROLLOUT or self.schema is None or self.validator is None:
            return obj, ()
        else:
            schema, validator = self.schema, self.validator
        pruned_obj, pruned = compute_pruned(obj, schema)
        problems = validate_against(validator, pruned_obj)
        if problems:
            field, _, detail = problems[0].partition(": ")
            raise StatusError.invalid(kind, obj["metadata"]["name"], field=field, detail=detail)
        return pruned_obj, pruned
