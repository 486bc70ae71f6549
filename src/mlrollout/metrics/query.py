"""Query rendering: fill an AnalysisTemplate query's placeholders so no value can change its shape.

Part of the ``metrics`` layer. The spec layer has already checked that every placeholder is
known (``spec/template.py``); this module decides what each one becomes in PromQL, and the
providers (``prometheus``) send the result. The rules, by placeholder and by where it sits:

- ``{{selector}}`` becomes label matchers ``name="value", ...``. Names must be plain label
  names (``[a-zA-Z_][a-zA-Z0-9_]*``, not ``__``-reserved); values are always written as
  escaped double-quoted string literals with ``=`` (exact match, so regex metacharacters are
  literal too). It may only stand inside the braces of a vector selector.
- ``{{window}}`` becomes a PromQL duration (``30s``, ``1m30s``, ``500ms``), whole milliseconds.
- ``{{namespace}}``, ``{{service}}``, ``{{variant}}`` and ``{{args.NAME}}``: inside a quoted
  string literal (``"..."`` or ``'...'``) the value is escaped for that quote, so any value is
  safe there and is matched literally; inside a raw string (backquotes) a value holding a
  backquote is refused; anywhere else (code or comment) the value must be a *bare token*: an
  identifier that is not a PromQL keyword, a non-negative number or a duration. Anything else
  is a :class:`~mlrollout.errors.SpecError` naming the placeholder.

Escaping follows PromQL's (Go's) string escapes: backslash, the quote, newline, carriage
return and tab get their short escapes; other control characters are written ``\\uXXXX``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum

from mlrollout.errors import SpecError
from mlrollout.model import format_duration

__all__ = [
    "QueryContext",
    "compute_promql_duration",
    "compute_selector",
    "compute_structure",
    "quote_string",
    "render_query",
]

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+")
_BARE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*|[0-9]+(?:\.[0-9]+)?|(?:[0-9]+(?:ms|s|m|h|d|w|y))+")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "atan2",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "start",
        "end",
        "inf",
        "nan",
    }
)
_SHORT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class _Where(Enum):
    CODE = "code"
    DOUBLE = '"'
    SINGLE = "'"
    RAW = "`"
    COMMENT = "#"


@dataclass(frozen=True)
class QueryContext:
    """What one variant's placeholders stand for in one window."""

    selector: Mapping[str, str]
    window: timedelta
    namespace: str = ""
    service: str = ""
    variant: str = ""
    args: Mapping[str, str] = field(default_factory=dict)


def quote_string(value: str, quote: str = '"') -> str:
    """``value`` as a PromQL string literal delimited by ``quote`` (``"`` or ``'``)."""
    out = []
    for char in value:
        if char == quote:
            out.append("\\" + char)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return quote + "".join(out) + quote


def compute_selector(labels: Mapping[str, str]) -> str:
    """Label matchers ``a="x", b="y"`` for ``labels``; refuses reserved or malformed names."""
    if not labels:
        raise SpecError("a variant selector needs at least one label", path="selector")
    parts = []
    for name, value in labels.items():
        if not LABEL_NAME.fullmatch(name) or name.startswith("__"):
            raise SpecError(f"invalid selector label name {name!r}", path="selector")
        parts.append(f"{name}={quote_string(value)}")
    return ", ".join(parts)


def compute_promql_duration(window: timedelta) -> str:
    """A PromQL duration for ``window`` (whole milliseconds, at least 1ms)."""
    millis = window.total_seconds() * 1000
    if millis < 1 or abs(millis - round(millis)) > 1e-6:
        raise SpecError(f"window must be whole milliseconds >= 1ms, got {window}", path="window")
    text = format_duration(timedelta(milliseconds=round(millis)))
    if not _DURATION.fullmatch(text):
        raise SpecError(f"window {window} has no PromQL duration form", path="window")
    return text


def render_query(text: str, context: QueryContext) -> str:
    """Fill every placeholder of ``text`` for ``context`` (rules in the module docstring)."""
    out: list[str] = []
    last = 0
    for match, where, depth in _placeholders(text):
        out.append(text[last : match.start()])
        out.append(_render_one(match.group(1), where=where, depth=depth, context=context))
        last = match.end()
    out.append(text[last:])
    return "".join(out)


def compute_structure(query: str) -> str:
    """The query with every string literal's content replaced by ``S`` and comments removed.

    Two queries with the same structure differ only inside string literals: used to check
    that rendering a hostile value changed nothing but a literal, and to recognise shapes.
    """
    out: list[str] = []
    where = _Where.CODE
    index = 0
    while index < len(query):
        char = query[index]
        if where is _Where.CODE:
            if char in "\"'`":
                where = _Where(char)
                out.append(char + "S")
            elif char == "#":
                where = _Where.COMMENT
            else:
                out.append(char)
        elif where is _Where.COMMENT:
            if char == "\n":
                where = _Where.CODE
                out.append(char)
        elif char == "\\" and where is not _Where.RAW:
            index += 1
        elif char == where.value:
            out.append(char)
            where = _Where.CODE
        index += 1
    return "".join(out)


def _placeholders(text: str) -> Iterator[tuple[re.Match[str], _Where, int]]:
    """Each placeholder with the lexical context it sits in and the brace depth there."""
    where, depth, index = _Where.CODE, 0, 0
    while index < len(text):
        match = PLACEHOLDER.match(text, index) if text.startswith("{{", index) else None
        if match is not None:
            yield match, where, depth
            index = match.end()
            continue
        char = text[index]
        if where is _Where.CODE:
            if char in "\"'`#":
                where = _Where(char)
            depth += {"{": 1, "}": -1}.get(char, 0)
        elif where is _Where.COMMENT:
            where = _Where.CODE if char == "\n" else where
        elif char == "\\" and where is not _Where.RAW:
            index += 1
        elif char == where.value:
            where = _Where.CODE
        index += 1


def _render_one(name: str, *, where: _Where, depth: int, context: QueryContext) -> str:
    if name == "selector":
        if where is not _Where.CODE or depth <= 0:
            raise SpecError(
                "{{selector}} must stand inside the braces of a vector selector",
                path="query",
            )
        return compute_selector(context.selector)
    if name == "window":
        return compute_promql_duration(context.window)
    value = _value_of(name, context)
    if where in (_Where.DOUBLE, _Where.SINGLE):
        return quote_string(value, where.value)[1:-1]
    if where is _Where.RAW:
        if "`" in value:
            raise SpecError(f"{{{{{name}}}}}: a backquote cannot stand in a raw string")
        return value
    if not _BARE.fullmatch(value) or value.lower() in _KEYWORDS:
        raise SpecError(
            f"{{{{{name}}}}} = {value!r} outside a string literal must be an identifier, "
            "a number or a duration; quote the placeholder in the template to match any value",
            path="query",
        )
    return value


def _value_of(name: str, context: QueryContext) -> str:
    builtins = {
        "namespace": context.namespace,
        "service": context.service,
        "variant": context.variant,
    }
    if name in builtins:
        return builtins[name]
    if name.startswith("args.") and name[5:] in context.args:
        return context.args[name[5:]]
    raise SpecError(f"no value for placeholder {{{{{name}}}}}", path="query")
