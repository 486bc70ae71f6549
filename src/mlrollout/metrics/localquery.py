"""What the local provider understands of PromQL: counter queries and distinct-group counts.

Part of the ``metrics`` layer, pure. Without a Prometheus, the ``local`` provider evaluates
template queries itself over the samples it scraped, and understands exactly two shapes
(those of the conventional templates in ``analyses/``):

- a *counter query* ``sum [by (...)] (increase(SELECTOR[{{window}}]))`` (``shape``), answered
  with the same exact, reset-safe increases as the Prometheus provider (``increase``);
- a *distinct-group count* ``count(sum by (G) (increase(SELECTOR[{{window}}])) > 0)``,
  optionally followed by ``or sum by (G) ((SELECTOR unless SELECTOR offset {{window}}) > 0)``
  (groups whose counter was born inside the window, which ``increase`` cannot see): the
  number of groups that were active in the window.

Anything else is a ``SpecError`` saying so. This module parses *rendered* vector selectors
(``name{label="value", other=~"regex"}``, placeholders already filled by ``query``) into
matchers; string literals are unescaped as PromQL (Go) does, regexes are fully anchored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mlrollout.errors import SpecError
from mlrollout.metrics.query import compute_structure
from mlrollout.metrics.shape import assess_counter_shape

__all__ = [
    "CounterQuery",
    "DistinctQuery",
    "LocalQuery",
    "Matcher",
    "VectorSelector",
    "assess_local_query",
    "assess_selector",
]

_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_METRIC = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_BRACES = r"\{(?:[^{}]|\{\{[^{}]*\}\})*\}"
_SEL = rf"{_METRIC}\s*(?:{_BRACES})?"
_WINDOW = r"\{\{\s*window\s*\}\}"
_DISTINCT = re.compile(
    rf"\s*count\s*\(\s*sum\s+by\s*\(\s*(?P<by>{_NAME}(?:\s*,\s*{_NAME})*)\s*\)\s*"
    rf"\(\s*increase\s*\(\s*(?P<sel>{_SEL})\s*\[\s*{_WINDOW}\s*\]\s*\)\s*\)\s*>\s*0\s*"
    rf"(?P<born>or\s+sum\s+by\s*\(\s*(?P<by2>[^()]*)\)\s*\(\s*\(\s*(?P<sel2>{_SEL})\s*"
    rf"unless\s+(?P<sel3>{_SEL})\s*offset\s+{_WINDOW}\s*\)\s*>\s*0\s*\)\s*)?\)\s*"
)
_MATCHER = re.compile(rf"\s*(?P<name>{_NAME})\s*(?P<op>=~|!~|!=|=)\s*")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


@dataclass(frozen=True)
class Matcher:
    """One label matcher: ``name op "value"`` with op ``=``, ``!=``, ``=~`` or ``!~``."""

    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher (a missing label is the empty string)."""
        actual = labels.get(self.name, "")
        if self.op in ("=", "!="):
            return (actual == self.value) == (self.op == "=")
        found = re.fullmatch(self.value, actual) is not None
        return found == (self.op == "=~")


@dataclass(frozen=True)
class VectorSelector:
    """A parsed instant-vector selector: the matchers, the metric name among them."""

    matchers: tuple[Matcher, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a series with ``labels`` (``__name__`` included) is selected."""
        return all(m.matches(labels) for m in self.matchers)


@dataclass(frozen=True)
class CounterQuery:
    """``sum by (group_by) (increase(selector[{{window}}]))``; selector still a template."""

    selector: str
    group_by: tuple[str, ...]


@dataclass(frozen=True)
class DistinctQuery:
    """The number of groups (by ``group_by``) active in the window; ``born``: see module doc."""

    selector: str
    group_by: tuple[str, ...]
    born: bool


LocalQuery = CounterQuery | DistinctQuery


def assess_local_query(text: str) -> LocalQuery:
    """The shape of template query ``text``; ``SpecError`` when the local provider cannot run it."""
    shape = assess_counter_shape(text)
    if shape is not None:
        return CounterQuery(selector=shape.selector, group_by=shape.group_by)
    structure = _DISTINCT.fullmatch(compute_structure(text))
    original = _DISTINCT.fullmatch(text)
    if structure is None or original is None:
        raise SpecError(
            "the local provider evaluates only sum(increase(...)) counter queries and "
            "count(sum by (...) (increase(...)) > 0) distinct counts; configure a Prometheus "
            f"for this query: {text}",
            path="query",
        )
    by = tuple(name.strip() for name in original.group("by").split(","))
    born = original.group("born") is not None
    if born and not _same_born_parts(original, by):
        raise SpecError(
            "the 'or ... unless ... offset' part of a distinct count must repeat the grouping "
            f"and the selector: {text}",
            path="query",
        )
    return DistinctQuery(selector=original.group("sel"), group_by=by, born=born)


def _same_born_parts(match: re.Match[str], by: tuple[str, ...]) -> bool:
    by2 = tuple(name.strip() for name in match.group("by2").split(","))
    selectors = {re.sub(r"\s+", "", match.group(g)) for g in ("sel", "sel2", "sel3")}
    return by2 == by and len(selectors) == 1


def assess_selector(text: str) -> VectorSelector:
    """Parse a rendered vector selector ``name{a="x", b=~"y|z"}``; ``SpecError`` if malformed."""
    head = re.match(rf"\s*(?P<metric>{_METRIC})?\s*", text)
    assert head is not None
    matchers = [Matcher("__name__", "=", head.group("metric"))] if head.group("metric") else []
    index = head.end()
    if index < len(text):
        if text[index] != "{":
            raise SpecError(f"cannot read vector selector {text!r}", path="query")
        index = _read_matchers(text, index + 1, matchers)
    if text[index:].strip() or not matchers:
        raise SpecError(f"cannot read vector selector {text!r}", path="query")
    for matcher in matchers:
        if matcher.op in ("=~", "!~"):
            _check_regex(matcher.value)
    return VectorSelector(matchers=tuple(matchers))


def _read_matchers(text: str, index: int, out: list[Matcher]) -> int:
    while True:
        closing = re.match(r"\s*\}", text[index:])
        if closing is not None:
            return index + closing.end()
        found = _MATCHER.match(text, index)
        if found is None:
            raise SpecError(f"cannot read label matcher at {text[index:][:40]!r}", path="query")
        value, index = _read_string(text, found.end())
        out.append(Matcher(found.group("name"), found.group("op"), value))
        separator = re.match(r"\s*,", text[index:])
        if separator is not None:
            index += separator.end()
        elif re.match(r"\s*\}", text[index:]) is None:
            raise SpecError(f"expected ',' or '}}' at {text[index:][:40]!r}", path="query")


def _read_string(text: str, index: int) -> tuple[str, int]:
    """A PromQL string literal starting at ``index``: its value and the index after it."""
    quote = text[index : index + 1]
    if quote not in ('"', "'", "`"):
        raise SpecError(f"expected a string literal at {text[index:][:40]!r}", path="query")
    out: list[str] = []
    index += 1
    while index < len(text):
        char = text[index]
        if char == quote:
            return "".join(out), index + 1
        if char == "\\" and quote != "`":
            escaped, index = _read_escape(text, index + 1, quote)
            out.append(escaped)
            continue
        out.append(char)
        index += 1
    raise SpecError(f"unterminated string literal in {text!r}", path="query")


def _read_escape(text: str, index: int, quote: str) -> tuple[str, int]:
    char = text[index : index + 1]
    if char in _ESCAPES:
        return _ESCAPES[char], index + 1
    if char in ("\\", quote):
        return char, index + 1
    widths = {"x": 2, "u": 4, "U": 8}
    if char in widths:
        digits = text[index + 1 : index + 1 + widths[char]]
        if re.fullmatch(r"[0-9a-fA-F]+", digits) and len(digits) == widths[char]:
            return chr(int(digits, 16)), index + 1 + widths[char]
    octal = text[index : index + 3]
    if re.fullmatch(r"[0-7]{3}", octal):
        return chr(int(octal, 8)), index + 3
    raise SpecError(f"invalid escape \\{char} in a string literal", path="query")


def _check_regex(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise SpecError(f"invalid regular expression {pattern!r}: {exc}", path="query") from exc
