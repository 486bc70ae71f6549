"""Strategic merge patch: the subset a controller uses, applied to built-in kinds.

Pure; called by ``patches``. Supported (the rest of the real algorithm is not):

- maps merge recursively and ``null`` deletes a key, as in a JSON merge patch; this
  includes ``Service.spec.selector``, which therefore *merges* (keys not in the patch stay,
  exactly as on a real server) — send ``{"$patch": "replace"}`` inside the map, or ``null``
  for a key, to drop labels;
- lists with a merge key merge element by element: ``containers``, ``initContainers``,
  ``ephemeralContainers``, ``env``, ``volumes``, ``imagePullSecrets``, ``resourceClaims``
  by ``name``; ``volumeMounts`` by ``mountPath``; ``conditions`` by ``type``;
  ``ownerReferences`` by ``uid``; ``hostAliases`` by ``ip``; ``ports`` by ``containerPort``
  (container ports) or ``port`` (Service ports);
- ``finalizers`` merge as a set of strings (``$deleteFromPrimitiveList/finalizers`` removes);
- directives: ``{"$patch": "replace"}`` and ``{"name": ..., "$patch": "delete"}`` as list
  elements, ``"$patch": "replace" | "delete"`` inside a map; ``$setElementOrder/…`` and
  ``$retainKeys`` are accepted and ignored (element order is: existing elements in place,
  new elements appended);
- every other list replaces, as in a JSON merge patch.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["compute_strategic_merge"]

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "resourceClaims": "name",
    "volumeMounts": "mountPath",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
}
_SET_LISTS = frozenset({"finalizers"})
_DELETE = object()


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        dicts = [i for i in items if isinstance(i, dict)]
        return "containerPort" if any("containerPort" in i for i in dicts) else "port"
    return _MERGE_KEYS.get(field)


def _strip(value: Any) -> Any:
    """A patch value placed where nothing existed: drop the directives it carries."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, dict) and "$patch" in v)]
    return copy.deepcopy(value)


def _merge_list(original: list[Any], patch: list[Any], key: str) -> list[Any]:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            result.append(_strip(item))
            continue
        position = next(
            (n for n, e in enumerate(result) if isinstance(e, dict) and e.get(key) == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            result = [e for e in result if not (isinstance(e, dict) and e.get(key) == item[key])]
        elif position is None:
            result.append(_strip(item))
        else:
            result[position] = _merge_map(result[position], item)
    return result


def _merge_set(original: list[Any], patch: list[Any]) -> list[Any]:
    return list(original) + [v for v in patch if v not in original]


def _merge_field(result: dict[str, Any], field: str, value: Any) -> None:
    current = result.get(field)
    if isinstance(value, dict):
        merged = _merge_map(current if isinstance(current, dict) else {}, value)
        if merged is _DELETE:
            result.pop(field, None)
        else:
            result[field] = merged
        return
    if isinstance(value, list) and isinstance(current, list):
        if field in _SET_LISTS:
            result[field] = _merge_set(current, value)
            return
        key = _merge_key(field, current + value)
        if key is not None:
            result[field] = _merge_list(current, value, key)
            return
    result[field] = _strip(value)


def _merge_map(original: dict[str, Any], patch: dict[str, Any]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip(patch)
    result = copy.deepcopy(original)
    for field, value in patch.items():
        if field.startswith("$deleteFromPrimitiveList/"):
            name = field.split("/", 1)[1]
            result[name] = [v for v in result.get(name, []) if v not in (value or [])]
        elif field.startswith("$"):
            continue
        elif value is None:
            result.pop(field, None)
        else:
            _merge_field(result, field, value)
    return result


def compute_strategic_merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply a strategic merge ``patch`` to ``target`` (see the module docstring for the subset)."""
    merged = _merge_map(target, patch)
    return {} if merged is _DELETE else merged
