"""The e2e's substitutions to the shipped examples are the documented ones, and only those.

No server: each example is substituted as ``test_examples_e2e`` does it and compared, field
by field, with the file as shipped; the result must still validate as a ModelRollout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlrollout.spec.loader import validation_errors
from support.cluster import rollout_from

from .examplebed import EXAMPLES, SOAK, SUBSTITUTIONS, TIME_SCALE, substitute
from .receiver import HookReceiver

IMAGE = "registry.example.com/ml/model@sha256:" + "d" * 64


def _leaves(obj: Any, path: str = "") -> dict[str, Any]:
    """Every scalar of ``obj`` by its path, list indices written ``[]`` (as SUBSTITUTIONS)."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(_leaves(value, f"{path}.{key}" if path else key))
        return out
    if isinstance(obj, list):
        out = {}
        for i, value in enumerate(obj):
            for key, leaf in _leaves(value, f"{path}[]").items():
                out[f"{key}#{i}"] = leaf
        return out
    return {path: obj}


def _field(key: str) -> str:
    return key.split("#", 1)[0]


@pytest.fixture(scope="module")
def hooks() -> Any:
    receiver = HookReceiver()
    yield receiver
    receiver.stop()


@pytest.mark.parametrize("example", EXAMPLES)
def test_only_the_documented_fields_change(
    example: str, hooks: HookReceiver, tmp_path: Path
) -> None:
    shipped = rollout_from(example)
    out = substitute(
        shipped,
        namespace="e2e-ns",
        image=IMAGE,
        hooks=hooks,
        key_file=tmp_path / "cosign.pub",
        time_scale=TIME_SCALE.get(example, 1.0),
    )
    assert validation_errors(out, source=example, index=None) == []
    before, after = _leaves(shipped), _leaves(out)
    changed = {_field(k) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    scaled = {
        k for k in changed - set(SUBSTITUTIONS) if k.endswith(("Duration", "duration", "interval"))
    }
    assert changed - scaled <= set(SUBSTITUTIONS), changed - set(SUBSTITUTIONS)
    assert not scaled or example in TIME_SCALE, scaled
    assert out["metadata"]["namespace"] == "e2e-ns"
    assert all(h["url"].startswith("http://127.0.0.1:") for h in out["spec"].get("webhooks", []))
    judge = out["spec"]["analysis"].get("judge", "sequential")
    assert (out["spec"]["analysis"].get("minDuration") == SOAK) is (judge == "sequential")
