"""A hand-written JSON schema of the HTTPRoute fields mlrollout uses.

Data only; ``validity`` checks every HTTPRoute in the write history against it. Covers
``parentRefs``, ``hostnames`` and ``rules`` with ``matches``, ``backendRefs`` (name, port,
weight 0..1000000) and the ``RequestMirror`` filter (Gateway API v1); unknown fields in
``spec`` are errors so a typo cannot slip through. Status is checked loosely.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HTTPROUTE_SCHEMA"]

_NAME = {"type": "string", "minLength": 1, "maxLength": 253}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_BACKEND_REF: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "group": {"type": "string"},
        "kind": {"type": "string"},
        "name": _NAME,
        "namespace": {"type": "string"},
        "port": _PORT,
        "weight": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
    },
}
_MIRROR = {
    "type": "object",
    "required": ["backendRef"],
    "additionalProperties": False,
    "properties": {
        "backendRef": _BACKEND_REF,
        "percent": {"type": "integer", "minimum": 0, "maximum": 100},
        "fraction": {
            "type": "object",
            "required": ["numerator"],
            "additionalProperties": False,
            "properties": {
                "numerator": {"type": "integer", "minimum": 0},
                "denominator": {"type": "integer", "minimum": 1},
            },
        },
    },
}
_FILTER = {
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {"type": {"enum": ["RequestMirror"]}, "requestMirror": _MIRROR},
}
_STRING_MATCH = {
    "type": "object",
    "required": ["name", "value"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["Exact", "RegularExpression"]},
        "name": _NAME,
        "value": {"type": "string"},
    },
}
_MATCH = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "path": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]},
                "value": {"type": "string", "maxLength": 1024},
            },
        },
        "headers": {"type": "array", "items": _STRING_MATCH, "maxItems": 16},
        "queryParams": {"type": "array", "items": _STRING_MATCH, "maxItems": 16},
        "method": {
            "enum": ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
        },
    },
}
_RULE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "matches": {"type": "array", "items": _MATCH, "maxItems": 64},
        "filters": {"type": "array", "items": _FILTER, "maxItems": 16},
        "backendRefs": {
            "type": "array",
            "maxItems": 16,
            "items": {
                **_BACKEND_REF,
                "properties": {
                    **_BACKEND_REF["properties"],
                    "filters": {"type": "array", "items": _FILTER},
                },
            },
        },
        "timeouts": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"request": {"type": "string"}, "backendRequest": {"type": "string"}},
        },
    },
}
HTTPROUTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "gateway.networking.k8s.io/v1"},
        "kind": {"const": "HTTPRoute"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "parentRefs": {
                    "type": "array",
                    "maxItems": 32,
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {
                            "group": {"type": "string"},
                            "kind": {"type": "string"},
                            "namespace": {"type": "string"},
                            "name": _NAME,
                            "sectionName": {"type": "string"},
                            "port": _PORT,
                        },
                    },
                },
                "hostnames": {"type": "array", "items": {"type": "string"}, "maxItems": 16},
                "rules": {"type": "array", "items": _RULE, "maxItems": 16},
            },
        },
        "status": {"type": "object"},
    },
}
