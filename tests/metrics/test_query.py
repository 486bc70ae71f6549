"""Query rendering: placeholders, escaping, and hostile values that must not change a query."""

from __future__ import annotations

import ast
import re
from datetime import timedelta

import pytest

from mlrollout.errors import SpecError
from mlrollout.metrics.query import (
    QueryContext,
    compute_promql_duration,
    compute_selector,
    compute_structure,
    quote_string,
    render_query,
)

ERRORS = 'sum(increase(model_requests_total{ {{selector}}, status=~"5.." }[{{window}}]))'
HOSTILE = [
    pytest.param('"} or vector(1) #', id="close-and-or"),
    pytest.param('x"}) or vector(1) # ', id="close-paren"),
    pytest.param("a\nb", id="newline"),
    pytest.param("back\\slash\\", id="backslash"),
    pytest.param('\\"', id="escaped-quote"),
    pytest.param("{}[]()`'#", id="brackets-and-quotes"),
    pytest.param("\x00\x1f\x7f\r\t", id="control"),
    pytest.param("ünïcødé ✓", id="unicode"),
]


def _context(value: str, **extra: str) -> QueryContext:
    return QueryContext(selector={"environment": value}, window=timedelta(seconds=30), **extra)


def _literals(query: str) -> list[str]:
    """Double-quoted literals decoded by Python's parser (same escapes as PromQL's)."""
    found = re.findall(r'"((?:[^"\\]|\\.)*)"', query, flags=re.DOTALL)
    return [ast.literal_eval(f'"{body}"') for body in found]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("plain", '"plain"', id="plain"),
        pytest.param('a"b', '"a\\"b"', id="quote"),
        pytest.param("a\\b", '"a\\\\b"', id="backslash"),
        pytest.param("a\nb", '"a\\nb"', id="newline"),
        pytest.param("\x01", '"\\u0001"', id="control"),
    ],
)
def test_quote_string_escapes(value: str, expected: str) -> None:
    assert quote_string(value) == expected


def test_selector_renders_matchers_in_order() -> None:
    assert compute_selector({"environment": "green", "namespace": "ml"}) == (
        'environment="green", namespace="ml"'
    )


@pytest.mark.parametrize("name", ["__name__", "1abc", "a-b", "a b", ""], ids=repr)
def test_selector_refuses_bad_label_names(name: str) -> None:
    with pytest.raises(SpecError, match="label name"):
        compute_selector({name: "x"})


def test_selector_refuses_empty() -> None:
    with pytest.raises(SpecError, match="at least one label"):
        compute_selector({})


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (timedelta(seconds=30), "30s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(hours=2), "2h"),
    ],
    ids=str,
)
def test_window_durations(window: timedelta, expected: str) -> None:
    assert compute_promql_duration(window) == expected


@pytest.mark.parametrize("window", [timedelta(0), timedelta(microseconds=1500)], ids=str)
def test_window_refuses_zero_and_fractional_ms(window: timedelta) -> None:
    with pytest.raises(SpecError, match="window"):
        compute_promql_duration(window)


def test_errors_template_renders() -> None:
    rendered = render_query(ERRORS, _context("green"))
    assert rendered == (
        'sum(increase(model_requests_total{ environment="green", status=~"5.." }[30s]))'
    )


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_selector_value_changes_only_its_literal(value: str) -> None:
    benign = render_query(ERRORS, _context("green"))
    hostile = render_query(ERRORS, _context(value))
    assert compute_structure(hostile) == compute_structure(benign)
    assert _literals(hostile) == [value, "5.."]
    assert "\n" not in hostile


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("quote", ['"', "'"])
def test_hostile_arg_inside_a_literal_is_escaped(value: str, quote: str) -> None:
    template = f"sum(x{{ {{{{selector}}}}, priority=~{quote}{{{{args.p}}}}{quote} }})"
    benign = render_query(template, QueryContext({"e": "g"}, timedelta(seconds=1), args={"p": "a"}))
    hostile = render_query(
        template, QueryContext({"e": "g"}, timedelta(seconds=1), args={"p": value})
    )
    assert compute_structure(hostile) == compute_structure(benign)
    if quote == '"':
        assert _literals(hostile) == ["g", value]


@pytest.mark.parametrize(
    "value",
    ["x) or vector(1", "a b", "1; drop", "or", "by", "", "a\nb", "-1"],
    ids=repr,
)
def test_bare_placeholder_refuses_anything_but_a_token(value: str) -> None:
    template = "sum(x{ {{selector}} }) > {{args.limit}}"
    context = QueryContext({"e": "g"}, timedelta(seconds=1), args={"limit": value})
    with pytest.raises(SpecError, match="outside a string literal"):
        render_query(template, context)


@pytest.mark.parametrize("value", ["0.95", "5m", "model_requests_total", "1h30m"])
def test_bare_placeholder_accepts_tokens(value: str) -> None:
    template = "sum(x{ {{selector}} }) > {{args.limit}}"
    context = QueryContext({"e": "g"}, timedelta(seconds=1), args={"limit": value})
    assert render_query(template, context).endswith(f"> {value}")


def test_namespace_and_variant_inside_literals() -> None:
    template = 'x{ {{selector}}, namespace="{{namespace}}", v="{{variant}}", s="{{service}}" }'
    context = _context("g", namespace='n"s', variant="green", service="svc")
    assert _literals(render_query(template, context)) == ["g", 'n"s', "green", "svc"]


def test_selector_outside_braces_is_refused() -> None:
    with pytest.raises(SpecError, match="inside the braces"):
        render_query("sum(x) by ({{selector}})", _context("g"))


def test_selector_inside_a_string_is_refused() -> None:
    with pytest.raises(SpecError, match="inside the braces"):
        render_query('x{a="{{selector}}"}', _context("g"))


def test_raw_string_refuses_backquote() -> None:
    context = QueryContext({"e": "g"}, timedelta(seconds=1), args={"p": "a`b"})
    with pytest.raises(SpecError, match="backquote"):
        render_query("x{ {{selector}}, p=~`{{args.p}}` }", context)


def test_comment_is_not_code() -> None:
    assert compute_structure('x{a="}"} # "unterminated\n+ 1') == 'x{a="S"} \n+ 1'
