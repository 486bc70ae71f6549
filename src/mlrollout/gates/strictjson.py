"""Strict decoding of signed documents: JSON without duplicate keys, exact key sets, base64.

Used by ``simplesigning`` and ``dsse``/``intoto``. A parser that is lenient where the signer
was strict lets two verifiers disagree about what was signed; these helpers refuse instead.
Every failure is a ``ValueError`` whose message names the field; callers map it to a reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from mlrollout.spec.yamlfile import MAX_DEPTH, nesting_depth

__all__ = [
    "decode_base64",
    "expect_keys",
    "expect_object",
    "expect_string",
    "load_strict_json",
]

_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64_URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def load_strict_json(data: bytes) -> Any:
    """Decode UTF-8 JSON, refusing duplicate keys, NaN/Infinity and invalid UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("payload is not UTF-8") from exc
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise ValueError(f"payload is not JSON: {exc.msg} at {exc.pos}") from exc
    except RecursionError:
        raise ValueError(f"payload is nested deeper than {MAX_DEPTH} levels") from None
    if nesting_depth(value) > MAX_DEPTH:
        raise ValueError(f"payload is nested deeper than {MAX_DEPTH} levels")
    return value


def expect_object(value: Any, where: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object, else raise naming ``where``."""
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object, got {type(value).__name__}")
    return value


def expect_string(value: Any, where: str) -> str:
    """Return ``value`` if it is a JSON string, else raise naming ``where``."""
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {type(value).__name__}")
    return value


def expect_keys(
    obj: Mapping[str, Any],
    where: str,
    *,
    required: set[str],
    optional: frozenset[str] = frozenset(),
) -> None:
    """Refuse missing required keys and any key outside ``required | optional``."""
    missing = required - obj.keys()
    unknown = obj.keys() - required - optional
    if missing:
        raise ValueError(f"{where} lacks {sorted(missing)}")
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}")


def decode_base64(text: str, where: str, *, url_safe_ok: bool = False) -> bytes:
    """Decode standard base64 (padded); URL-safe too when ``url_safe_ok``. Raise on junk."""
    compact = text.strip()
    if _B64.fullmatch(compact):
        alphabet_text = compact
    elif url_safe_ok and _B64_URL.fullmatch(compact):
        alphabet_text = compact.replace("-", "+").replace("_", "/")
    else:
        raise ValueError(f"{where} is not base64")
    if url_safe_ok:
        alphabet_text += "=" * (-len(alphabet_text) % 4)
    try:
        return base64.b64decode(alphabet_text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{where} is not valid base64: {exc}") from exc
