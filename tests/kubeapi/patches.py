"""JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the patch-type dispatch.

Pure. ``operations`` calls :func:`compute_patched` with the request's ``Content-Type``;
strategic merge lives in ``strategic``. Errors are ``StatusError``: a malformed patch
document is a 400, a JSON patch that cannot apply (missing path, failed ``test``) is a 422,
strategic merge on a custom resource and server-side apply are a 415 as on the real server.
"""

from __future__ import annotations

import copy
from typing import Any

from .failures import StatusError
from .kinds import ResourceKind
from .strategic import compute_strategic_merge

__all__ = [
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "compute_json_patch",
    "compute_merge_patch",
    "compute_patched",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


def compute_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = compute_merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise StatusError.bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _unprocessable(message: str) -> StatusError:
    return StatusError(message, code=422)


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit():
        raise _unprocessable(f"invalid array index {token!r}")
    index = int(token)
    if index > len(container) or (index == len(container) and not for_add):
        raise _unprocessable(f"array index {index} out of range")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    current = doc
    for token in tokens[:-1]:
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list):
            current = current[_index(current, token, for_add=False)]
        else:
            raise _unprocessable(f"path /{'/'.join(tokens)} does not exist")
    return current


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    if isinstance(parent, dict) and tokens[-1] in parent:
        return parent[tokens[-1]]
    if isinstance(parent, list):
        return parent[_index(parent, tokens[-1], for_add=False)]
    raise _unprocessable(f"path /{'/'.join(tokens)} does not exist")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], for_add=True), value)
    else:
        raise _unprocessable(f"cannot add at /{'/'.join(tokens)}")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise _unprocessable("cannot remove the whole document")
    _get(doc, tokens)
    parent = _parent(doc, tokens)
    if isinstance(parent, dict):
        del parent[tokens[-1]]
    else:
        del parent[_index(parent, tokens[-1], for_add=False)]
    return doc


def _apply_operation(doc: Any, operation: Any) -> Any:
    if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
        raise StatusError.bad_request(f"invalid JSON patch operation: {operation!r}")
    op, tokens = operation["op"], _pointer(operation["path"])
    if op in ("add", "replace", "test") and "value" not in operation:
        raise StatusError.bad_request(f"JSON patch {op} needs a value")
    if op == "add":
        return _add(doc, tokens, copy.deepcopy(operation["value"]))
    if op == "remove":
        return _remove(doc, tokens)
    if op == "replace":
        if not tokens:
            return copy.deepcopy(operation["value"])
        _get(doc, tokens)
        return _add(_remove(doc, tokens), tokens, copy.deepcopy(operation["value"]))
    if op in ("move", "copy"):
        source = _pointer(operation.get("from", ""))
        value = copy.deepcopy(_get(doc, source))
        if op == "move":
            doc = _remove(doc, source)
        return _add(doc, tokens, value)
    if op == "test":
        if _get(doc, tokens) != operation["value"]:
            raise _unprocessable(f"testing value {operation['path']} failed")
        return doc
    raise StatusError.bad_request(f"unknown JSON patch operation {op!r}")


def compute_json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: apply ``operations`` in order to a copy of ``target``."""
    if not isinstance(operations, list):
        raise StatusError.bad_request("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for operation in operations:
        doc = _apply_operation(doc, operation)
    return doc


def compute_patched(
    kind: ResourceKind, target: dict[str, Any], patch: Any, *, content_type: str
) -> Any:
    """Apply ``patch`` of media type ``content_type`` to ``target`` as the real server would."""
    media = content_type.split(";")[0].strip().lower()
    if media == JSON_PATCH:
        return compute_json_patch(target, patch)
    if not isinstance(patch, dict):
        raise StatusError.bad_request("a merge patch must be a JSON object")
    if media == MERGE_PATCH:
        return compute_merge_patch(target, patch)
    if media == STRATEGIC_MERGE_PATCH and not kind.custom:
        return compute_strategic_merge(target, patch)
    raise StatusError(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{JSON_PATCH}, {MERGE_PATCH}" + ("" if kind.custom else f", {STRATEGIC_MERGE_PATCH}"),
        code=415,
    )
