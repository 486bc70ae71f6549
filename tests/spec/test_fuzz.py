"""Property tests: malformed documents of every shape give only ``SpecError``.

Mutates the shipped examples at random paths (wrong types, missing and unknown fields,
out-of-range weights, bad digests, unknown kinds, deep nesting, huge strings) and feeds raw
bytes, including non-UTF-8, to the loader. Nothing but ``SpecError`` may come out.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlrollout.errors import SpecError
from mlrollout.spec import load_object, load_text
from mlrollout.spec.yamlfile import parse_yaml_documents

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [
    parse_yaml_documents(p.read_text(), source=p.name)[0]
    for p in sorted([*ROOT.glob("examples/*.yaml"), *ROOT.glob("analyses/*.yaml")])
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "fraud:latest",
            "x@sha256:abc",
            "sha256:" + "0" * 64,
            "-1",
            "101",
            "1e9",
            "30 minutes",
            "ModelRollout",
            "AnalysisTemplate",
            "mlrollout.io/v1",
            "{{selector}}",
            "{{nope}}",
            "gateway-api",
            "0.005",
            "\x00",
            "\ud7ff",
        ]
    ),
    st.just("x" * 200_000),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
deep = st.integers(min_value=1, max_value=200).map(lambda n: _nest(n))


def _nest(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            out += _paths(child, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add", "deep"]))
        if not path:
            doc = draw(values) if action == "replace" else doc
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        leaf = path[-1]
        if action == "replace":
            parent[leaf] = draw(values)
        elif action == "deep":
            parent[leaf] = draw(deep)
        elif action == "delete":
            del parent[leaf]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(values)
        else:
            parent.append(draw(values))
    return doc


def _only_spec_errors(obj: Any) -> None:
    try:
        load_object(obj, source="fuzz.yaml")
    except SpecError as exc:
        text = str(exc)
    else:
        return
    assert text.startswith("fuzz.yaml"), text
    assert "\n" not in text, text


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_mutated_documents_give_only_spec_errors(doc: Any) -> None:
    _only_spec_errors(doc)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(values)
def test_arbitrary_structures_give_only_spec_errors(doc: Any) -> None:
    _only_spec_errors(doc)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=200).map(lambda b: b"kind: ModelRollout\n" + b),
        st.text(max_size=300).map(str.encode),
    )
)
def test_raw_bytes_give_only_spec_errors(data: bytes) -> None:
    try:
        load_text(data, source="raw.yaml")
    except SpecError as exc:
        message = str(exc)
    else:
        return
    assert message.startswith("raw.yaml")
