"""Signed models in the template: the controller hands ``mlrollout verify model`` its settings
through the environment of every init container; the gate wants such an init container."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mlrollout.controller.gating import decide_model_verifier
from mlrollout.kube.environments import compute_released, compute_signature_env
from mlrollout.model import ImageRef, Sha256
from mlrollout.spec.rollout import ModelSignature

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "model-init" / "deployment.yaml"
IMAGE = ImageRef.parse("registry.test/ml/fraud@sha256:" + "1" * 64)
SHA = Sha256("2" * 64)
KEYED = ModelSignature.model_validate({"file": "/models/current/model.sig", "key": "/k/model.pub"})
KEYLESS = ModelSignature.model_validate(
    {
        "file": "/m/model.sig",
        "keyless": {"issuer": "https://issuer", "identity": "ci@example.com"},
        "trustedRoot": "/t/trusted_root.json",
    }
)


def _example() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return doc


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def test_example_is_valid_and_has_a_verifier() -> None:
    kubernetes_validate.validate(_example(), "1.30", strict=True)
    assert decide_model_verifier(_example()["spec"]["template"]) is None


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        (None, {}),
        (
            KEYED,
            {
                "MLROLLOUT_MODEL_SIGNATURE": "/models/current/model.sig",
                "MLROLLOUT_MODEL_SIGNATURE_KEY": "/k/model.pub",
            },
        ),
        (
            KEYLESS,
            {
                "MLROLLOUT_MODEL_SIGNATURE": "/m/model.sig",
                "MLROLLOUT_MODEL_SIGNATURE_IDENTITY": "ci@example.com",
                "MLROLLOUT_MODEL_SIGNATURE_ISSUER": "https://issuer",
                "MLROLLOUT_MODEL_TRUSTED_ROOT": "/t/trusted_root.json",
            },
        ),
    ],
    ids=["unsigned", "key", "keyless"],
)
def test_signature_env(signature: ModelSignature | None, expected: dict[str, str]) -> None:
    assert compute_signature_env(signature) == expected


def test_release_goes_into_every_init_container_and_stale_settings_leave() -> None:
    released = compute_released(
        _example(),
        image=IMAGE,
        model_uri="s3://m/42",
        model_sha256=SHA,
        signature_env=compute_signature_env(KEYLESS),
    )
    spec = released["spec"]["template"]["spec"]
    [init] = spec["initContainers"]
    assert _env(init) == {
        "MLROLLOUT_MODEL_SHA256": SHA.hex,
        "MLROLLOUT_MODEL_URI": "s3://m/42",
        **compute_signature_env(KEYLESS),
    }
    assert init["image"] == _example()["spec"]["template"]["spec"]["initContainers"][0]["image"]
    assert spec["containers"][0]["image"] == str(IMAGE)
    again = compute_released(
        released, image=IMAGE, model_uri="s3://m/43", model_sha256=SHA, signature_env={}
    )
    again_spec = again["spec"]["template"]["spec"]
    assert "MLROLLOUT_MODEL_SIGNATURE" not in _env(again_spec["initContainers"][0])
    assert "MLROLLOUT_MODEL_SIGNATURE" not in _env(again_spec["containers"][0])
    assert _env(again_spec["containers"][0])["MLROLLOUT_MODEL_URI"] == "s3://m/43"


VERIFIERS = [
    ("args", {"args": ["verify", "model", "/m"]}, True),
    ("command", {"command": ["mlrollout", "verify", "model", "/m"]}, True),
    ("split", {"command": ["mlrollout", "verify"], "args": ["model", "/m"]}, True),
    ("shell-string", {"command": ["sh", "-c", "mlrollout verify model /m"]}, False),
    ("verify-image", {"args": ["verify", "image", "x"]}, False),
    ("none", None, False),
]


@pytest.mark.parametrize(
    ("init", "found"), [v[1:] for v in VERIFIERS], ids=[v[0] for v in VERIFIERS]
)
def test_decide_model_verifier(init: dict[str, Any] | None, found: bool) -> None:
    spec: dict[str, Any] = {"containers": [{"name": "model", "image": "x"}]}
    if init is not None:
        spec["initContainers"] = [{"name": "v", "image": "m", **init}]
    problem = decide_model_verifier({"spec": spec})
    assert (problem is None) is found
    if not found:
        assert problem is not None
        assert "spec.release.model.signature" in problem
