"""What the local platform refuses at load, and its gates (real files, real hashes)."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest

from mlrollout.controller.localchecks import LocalVerifier, check_local_rollout
from mlrollout.errors import SpecError
from mlrollout.kube.rollouts import parse_stored
from mlrollout.local.scenarios import build_demo_rollout, write_demo_releases
from mlrollout.spec import ModelRollout, load_object
from mlrollout.spec.status import StatusRelease


@pytest.fixture
def obj(tmp_path: Path) -> dict[str, Any]:
    _, good = write_demo_releases(tmp_path / "models", "latency")
    return build_demo_rollout(good)


def _load(obj: dict[str, Any]) -> ModelRollout:
    rollout = load_object(obj, source="test")
    assert isinstance(rollout, ModelRollout)
    return rollout


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("spec.gates.signature", {"gates": {"signature": {"publicKeys": [{"secret": "k"}]}}}),
        ("spec.gates.sbom", {"gates": {"sbom": True}}),
        ("spec.gates.podSecurity", {"gates": {"podSecurity": "baseline"}}),
        ("spec.gates.gpuCapacity", {"gates": {"gpuCapacity": False}}),
        ("spec.gates.maxGpusPerPod", {"gates": {"maxGpusPerPod": 2}}),
        ("spec.environments.blue.container", {"environments": {"blue": {"container": "m"}}}),
        ("spec.release.model.uri", {"release": {"model": {"uri": "s3://models/a"}}}),
    ],
)
def test_settings_the_local_platform_cannot_honour_are_refused(
    obj: dict[str, Any], path: str, change: dict[str, Any]
) -> None:
    changed = copy.deepcopy(obj)
    for key, value in change.items():
        merged = dict(changed["spec"].get(key) or {})
        for inner, inner_value in value.items():
            if isinstance(inner_value, dict) and isinstance(merged.get(inner), dict):
                merged[inner] = {**merged[inner], **inner_value}
            else:
                merged[inner] = inner_value
        changed["spec"][key] = merged
    with pytest.raises(SpecError) as info:
        check_local_rollout(_load(changed), source="rollout.yaml")
    assert info.value.path == path


def test_the_demo_rollout_is_accepted(obj: dict[str, Any]) -> None:
    check_local_rollout(_load(obj))


def _stored(obj: dict[str, Any], *, uri: str, sha: str) -> Any:
    release = obj["spec"]["release"]
    raw = {
        **obj,
        "status": {
            "release": StatusRelease(
                image=release["image"], model_uri=uri, model_sha256=sha
            ).model_dump(mode="json", by_alias=True)
        },
    }
    return parse_stored(raw)


def test_the_verifier_checks_the_model_card_and_keeps_a_copy(
    obj: dict[str, Any], tmp_path: Path
) -> None:
    model = obj["spec"]["release"]["model"]
    verifier = LocalVerifier(base=tmp_path, models=tmp_path / "kept")
    outcome = verifier.verify(_stored(obj, uri=model["uri"], sha=model["sha256"]))
    assert outcome.passed, outcome.message
    kept = tmp_path / "kept" / f"{model['sha256']}.json"
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == model["sha256"]


def test_a_model_card_that_does_not_match_its_digest_is_refused(
    obj: dict[str, Any], tmp_path: Path
) -> None:
    model = obj["spec"]["release"]["model"]
    verifier = LocalVerifier(base=tmp_path, models=tmp_path / "kept")
    outcome = verifier.verify(_stored(obj, uri=model["uri"], sha="0" * 64))
    assert not outcome.passed
    assert outcome.reason_code == "MODEL_DIGEST_MISMATCH"
    missing = verifier.verify(_stored(obj, uri="local://nope.json", sha=model["sha256"]))
    assert not missing.passed
    assert not (tmp_path / "kept").exists()
