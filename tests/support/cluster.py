"""Test-bed pieces shared by the kube-backed tests: the shipped example as a dict, the blue and
green GPU Deployments, a signed release in a fake registry, and a brisk clock."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gates.fake_registry import FakeRegistry
from gates.publish import push_image, push_signature
from gates.signer import CosignTestSigner
from mlrollout.gates import RegistryClient
from mlrollout.kube import KubeClient
from mlrollout.kube.kinds import MODELROLLOUTS
from mlrollout.model import ImageRef
from mlrollout.spec.yamlfile import parse_yaml_documents

ROOT = Path(__file__).resolve().parents[2]
OLD = "registry.test/ml/fraud-scorer@sha256:" + "0" * 64
MODEL_URI = "s3://models/fraud-scorer/42"


def rollout_from(example: str) -> dict[str, Any]:
    """An example rollout from ``examples/`` as a dict."""
    [obj] = parse_yaml_documents((ROOT / "examples" / example).read_text(), source=example)
    assert isinstance(obj, dict)
    return obj


def template(env: str, image: str) -> dict[str, Any]:
    """A pod template that passes the restricted profile and the hardening rules."""
    return {
        "metadata": {"labels": {"app": "fraud-scorer", "env": env}},
        "spec": {
            "nodeSelector": {"pool": "a100"},
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "model",
                    "image": image,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {
                        "requests": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"},
                        "limits": {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": "1"},
                    },
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }


class SignedRegistry:
    """A registry with one signed release image and a trusted key written as a secret."""

    def __init__(self, secrets_dir: Path, *, sign: bool = True) -> None:
        self.registry = FakeRegistry()
        self.signer = CosignTestSigner()
        digest = push_image(self.registry, "ml/fraud-scorer", b"model-server v43")
        self.image = f"registry.test/ml/fraud-scorer@{digest}"
        if sign:
            push_signature(self.registry, ImageRef.parse(self.image), self.signer)
        key = secrets_dir / "cosign-pub" / "cosign.pub"
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(self.signer.public_pem)

    def client(self, host: str) -> RegistryClient:
        return RegistryClient(host, transport=self.registry.transport, sleep=lambda s: None)


def create_rollout(
    client: KubeClient, image: str, *, namespace: str = "default", **spec: Any
) -> dict[str, Any]:
    raw = rollout_from("canary.yaml")
    raw["metadata"]["namespace"] = namespace
    body = raw["spec"]
    for key in ("webhooks", "notifications", "metrics"):
        body.pop(key, None)
    body["release"] = {"image": image, "model": {"uri": MODEL_URI, "sha256": "c" * 64}}
    body["gates"] = {"signature": {"publicKeys": [{"secret": "cosign-pub"}]}}
    body["strategy"]["canary"]["steps"] = [
        {"setWeight": 25},
        {"analyze": {}},
        {"setWeight": 50},
        {"analyze": {}},
    ]
    body.update(copy.deepcopy(spec))
    return client.create(MODELROLLOUTS, raw, namespace)


class BriskClock:
    """Virtual time that runs ahead of real time: each sleep waits a little for real."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        real = min(seconds, 0.02)
        time.sleep(real)
        self.offset += max(seconds - real, 0.0)
