"""Recognise counter queries the provider can evaluate exactly from raw samples.

Part of the ``metrics`` layer, pure. A template query of the form
``sum [by (l1, l2)] (increase(SELECTOR[{{window}}]))`` (every counter query of the shipped
templates) is a *counter query*: instead of letting PromQL extrapolate ``increase``, the
Prometheus provider fetches SELECTOR's raw samples and computes exact, reset-safe increases
on the shared window boundaries (``increase``). Any other query (``changes``, ``count(...)``,
ratios, gauges) is evaluated by PromQL at each window's end with ``{{window}}`` set to the
window's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlrollout.metrics.query import compute_structure

__all__ = ["CounterShape", "assess_counter_shape"]

_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_BRACES = r"\{(?:[^{}]|\{\{[^{}]*\}\})*\}"
_STRUCTURE = re.compile(
    rf"\s*sum\s*(?:by\s*\(\s*(?P<by>{_NAME}(?:\s*,\s*{_NAME})*)\s*,?\s*\)\s*)?"
    rf"\(\s*increase\s*\(\s*[a-zA-Z_:][a-zA-Z0-9_:]*\s*(?:{_BRACES})?\s*"
    r"\[\s*\{\{\s*window\s*\}\}\s*\]\s*\)\s*\)\s*"
)
_ORIGINAL = re.compile(
    r"\s*sum\s*(?:by\s*\([^()]*\)\s*)?\(\s*increase\s*\(\s*(?P<selector>.*?)\s*"
    r"\[\s*\{\{\s*window\s*\}\}\s*\]\s*\)\s*\)\s*",
    re.DOTALL,
)


@dataclass(frozen=True)
class CounterShape:
    """A counter query: the vector selector (still with placeholders) and its grouping."""

    selector: str
    group_by: tuple[str, ...]


def assess_counter_shape(template_query: str) -> CounterShape | None:
    """The counter shape of ``template_query``, or ``None`` when PromQL must evaluate it."""
    structure = _STRUCTURE.fullmatch(compute_structure(template_query))
    original = _ORIGINAL.fullmatch(template_query)
    if structure is None or original is None:
        return None
    by = structure.group("by")
    group_by = tuple(name.strip() for name in by.split(",")) if by else ()
    return CounterShape(selector=original.group("selector"), group_by=group_by)
