"""Label and field selectors: parsing the query strings and matching objects.

Pure. Used by ``operations`` for lists and by ``watching`` to filter events. Supports the
label selector grammar (``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a)``, ``k``,
``!k``) and field selectors on ``metadata.name`` / ``metadata.namespace`` (plus a few
per-kind fields the real server also indexes); any other field is a 400 as on the real server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .failures import StatusError
from .kinds import ResourceKind

__all__ = ["FieldSelector", "LabelSelector", "parse_field_selector", "parse_label_selector"]

_KEY = r"[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?"
_EXISTS = re.compile(rf"^(?P<neg>!)?\s*(?P<key>{_KEY})$")
_SET = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQUALITY = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})$")
_VALUE_ONLY = re.compile(rf"^{_VALUE}$")

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_KIND_FIELDS = {
    "Pod": ("spec.nodeName", "status.phase"),
    "Event": (
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.uid",
        "reason",
        "type",
    ),
}


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector: ``key``, an operator and its values."""

    key: str
    op: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this term."""
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "in":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: all requirements must hold (empty matches everything)."""

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with ``labels`` is selected."""
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    terms.append("".join(current).strip())
    return [t for t in terms if t]


def _parse_term(term: str) -> Requirement:
    if match := _EQUALITY.match(term):
        op = "notin" if match["op"] == "!=" else "in"
        return Requirement(match["key"], op, frozenset({match["value"] or ""}))
    if match := _SET.match(term):
        values = [v.strip() for v in match["values"].split(",")]
        if not values or not all(_VALUE_ONLY.match(v) for v in values):
            raise StatusError.bad_request(f"unable to parse requirement: bad values in {term!r}")
        return Requirement(match["key"], match["op"], frozenset(values))
    if match := _EXISTS.match(term):
        return Requirement(match["key"], "!exists" if match["neg"] else "exists")
    raise StatusError.bad_request(f"unable to parse requirement: {term!r}")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a ``labelSelector`` query value; a syntax error is a 400 BadRequest."""
    return LabelSelector(tuple(_parse_term(t) for t in _split_terms(text or "")))


@dataclass(frozen=True)
class FieldRequirement:
    """One ``field=value`` or ``field!=value`` term of a field selector."""

    path: str
    value: str
    equal: bool

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` satisfies this term (a missing field reads as ``""``)."""
        current: Any = obj
        for part in self.path.split("."):
            current = current.get(part) if isinstance(current, Mapping) else None
        actual = "" if current is None else str(current)
        return (actual == self.value) == self.equal


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: all requirements must hold."""

    requirements: tuple[FieldRequirement, ...]

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` is selected."""
        return all(r.matches(obj) for r in self.requirements)


def parse_field_selector(text: str | None, kind: ResourceKind) -> FieldSelector:
    """Parse a ``fieldSelector``; unsupported fields are a 400 as on the real server."""
    allowed = _COMMON_FIELDS + _KIND_FIELDS.get(kind.kind, ())
    requirements = []
    for term in _split_terms(text or ""):
        match = re.match(r"^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$", term)
        if not match:
            raise StatusError.bad_request(f"invalid field selector: {term!r}")
        path, op, value = match.groups()
        if path not in allowed:
            raise StatusError.bad_request(
                f'field label not supported: "{path}" for {kind.resource_id}'
            )
        requirements.append(FieldRequirement(path, value.strip(), op != "!="))
    return FieldSelector(tuple(requirements))
