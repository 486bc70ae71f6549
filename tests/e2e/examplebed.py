"""What the shipped examples need around them on the real control plane, and the few
test-side substitutions made to them, each with its reason.

Part of the e2e test bed (``tests/e2e``); used by ``test_examples_e2e``. ``build_environments``
creates an example's GPU nodes (kwok, a pool of the test's own), its blue and green
Deployments (restricted-profile pods labelled ``app: <service>, env: <env>``, blue serving),
the Services and the HTTPRoute its router expects, as an operator would before the first
rollout. ``ReleaseRegistry`` publishes the release an example ships (same registry host and
repository; a digest of content the test pushed, since no content has the example's made-up
digest) with a cosign signature by the key the example trusts and, when the example pins a
builder and source repository, an SLSA provenance attestation from exactly those.
``substitute`` applies the documented substitutions (``SUBSTITUTIONS``).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.workloads import POOL_LABEL, gpu_node, service, wait_until
from gates.fake_registry import FakeRegistry
from gates.publish import (
    attestation_layer,
    envelope,
    push_attestations,
    push_image,
    push_signature,
    statement,
)
from gates.signer import CosignTestSigner
from mlrollout.gates import RegistryClient
from mlrollout.gates.policy import SLSA_PROVENANCE_V1
from mlrollout.kube import KubeClient
from mlrollout.kube.environments import assess_readiness
from mlrollout.kube.kinds import DEPLOYMENTS, HTTPROUTES, NODES, SERVICES
from mlrollout.model import ImageRef
from mlrollout.model.duration import parse_duration
from support.cluster import template

__all__ = [
    "EXAMPLES",
    "SOAK",
    "SUBSTITUTIONS",
    "TIME_SCALE",
    "Example",
    "ReleaseRegistry",
    "build_environments",
    "old_image",
    "scale_durations",
    "substitute",
]

ROOT = Path(__file__).resolve().parents[2]
# Every ModelRollout shipped in examples/.
EXAMPLES = sorted(
    p.name for p in (ROOT / "examples").glob("*.yaml") if "kind: ModelRollout" in p.read_text()
)

# What the e2e changes in each example before applying it, and why (the README lists these).
SUBSTITUTIONS = {
    "metadata.namespace": "the test's own namespace on the shared control plane",
    "spec.release.image": "same registry and repository, the digest of the image the test "
    "pushed and signed (no content has the example's made-up digest)",
    "spec.webhooks[].url": "a local receiver that confirms (release-gate.example.com is not ours)",
    "spec.notifications[].url": "a local receiver that records the messages",
    "spec.gates.signature.publicKeys[].file": "the test's key file (the example's path is a "
    "place on the user's machine)",
    "spec.analysis.minDuration": "1m with the sequential judge (SOAK below): the default soak "
    "of min(15 min, maxDuration / 2) per analysis step",
}

# The soak of every analysis step, for the sequential judge (the examples set none, so each
# step soaks min(15 min, maxDuration / 2) before it may promote: 45 min for canary.yaml
# alone). The gates decide in about a minute and a half at the test's traffic; the soak
# bounds how fast a step may end, and nothing else of the analysis changes.
SOAK = "1m"

# Durations scaled, per example, where nothing else can bring a run under ~5 minutes: the
# Kayenta judge decides once per interval, whatever the traffic, and gateway-canary.yaml's
# 10-minute intervals (two per analysis step) are what Kayenta users run. Every duration of
# the rollout (steps' maxDuration, pauses, the analysis and Kayenta intervals) is multiplied
# by the factor.
TIME_SCALE = {"gateway-canary.yaml": 0.1}


@dataclass(frozen=True)
class Example:
    """The names an example's rollout refers to."""

    raw: dict[str, Any]

    @property
    def spec(self) -> dict[str, Any]:
        """The rollout's spec."""
        spec: dict[str, Any] = self.raw["spec"]
        return spec

    @property
    def service(self) -> str:
        """The model Service."""
        return str(self.spec["service"])

    @property
    def deployments(self) -> dict[str, str]:
        """Environment name -> Deployment name."""
        return {env: e["deployment"] for env, e in self.spec["environments"].items()}

    @property
    def canary(self) -> dict[str, Any] | None:
        """The canary strategy, if that is the example's."""
        found: dict[str, Any] | None = self.spec["strategy"].get("canary")
        return found

    @property
    def http_route(self) -> str | None:
        """The HTTPRoute of a Gateway API canary."""
        traffic = (self.canary or {}).get("traffic") or {}
        return (traffic.get("httpRoute") or {}).get("name")

    @property
    def preview_service(self) -> str | None:
        """The blue-green preview Service."""
        return (self.spec["strategy"].get("blueGreen") or {}).get("previewService")


def _deployment(
    example: Example, env: str, *, namespace: str, replicas: int, image: str
) -> dict[str, Any]:
    labels = {"app": example.service, "env": env}
    pod = copy.deepcopy(template(env, image))
    pod["metadata"]["labels"] = dict(labels)
    pod["spec"]["nodeSelector"] = {POOL_LABEL: namespace}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": example.deployments[env], "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": pod},
    }


def build_environments(
    admin: KubeClient, example: Example, namespace: str, *, old_image: str, blue: int = 4
) -> None:
    """The example's nodes, Deployments, Services and route; waits until blue is ready."""
    for i in range(3):  # 12 GPUs: both environments at full size (blue-green) and a surge
        admin.create(NODES, gpu_node(f"{namespace}-gpu-{i}", pool=namespace, gpus=4))
    for env, replicas in (("blue", blue), ("green", 0)):
        body = _deployment(example, env, namespace=namespace, replicas=replicas, image=old_image)
        admin.create(DEPLOYMENTS, body, namespace)
    app = {"app": example.service}
    if example.http_route is not None:
        # The Gateway API router splits between a Service per environment (named after it).
        for env in example.deployments:
            selector = {**app, "env": env}
            admin.create(SERVICES, service(f"{example.service}-{env}", namespace, selector))
        route = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": example.http_route, "namespace": namespace},
            "spec": {
                "parentRefs": [{"name": "ml-gateway"}],
                "rules": [
                    {
                        "backendRefs": [
                            {"name": f"{example.service}-blue", "port": 8080, "weight": 100}
                        ]
                    }
                ],
            },
        }
        admin.create(HTTPROUTES, route, namespace)
        admin.create(SERVICES, service(example.service, namespace, app), namespace)
    elif example.preview_service is not None:
        # Blue-green: the Service selects the serving environment, the preview the other.
        admin.create(SERVICES, service(example.service, namespace, {**app, "env": "blue"}))
        preview = service(example.preview_service, namespace, {**app, "env": "green"})
        admin.create(SERVICES, preview, namespace)
    else:
        # The replicas router: the Service selects both environments' pods.
        admin.create(SERVICES, service(example.service, namespace, app), namespace)
    blue_name = example.deployments["blue"]
    wait_until(
        lambda: assess_readiness(admin.get(DEPLOYMENTS, blue_name, namespace)).healthy,
        what=f"{blue_name} ready on kwok nodes",
        timeout=60,
    )


class ReleaseRegistry:
    """A fake registry holding the example's release, signed, with provenance if pinned."""

    def __init__(self, example: Example, secrets_dir: Path) -> None:
        self.registry = FakeRegistry()
        self.signer = CosignTestSigner()
        shipped = ImageRef.parse(example.spec["release"]["image"])
        repository = shipped.repository.split("/", 1)[1]  # without the registry host
        content = f"{example.service} release".encode()
        digest = push_image(self.registry, repository, content)
        self.image = ImageRef(shipped.repository, digest)
        push_signature(self.registry, self.image, self.signer)
        gates = example.spec.get("gates") or {}
        provenance = gates.get("provenance")
        if provenance:
            predicate = {
                "buildDefinition": {
                    "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                    "externalParameters": {
                        "workflow": {
                            "ref": "refs/heads/main",
                            "repository": provenance["sourceRepos"][0],
                            "path": ".github/workflows/build.yaml",
                        }
                    },
                    "resolvedDependencies": [],
                },
                "runDetails": {"builder": {"id": provenance["builderIds"][0]}, "metadata": {}},
            }
            blob = envelope(self.signer, statement(self.image, SLSA_PROVENANCE_V1, predicate))
            push_attestations(self.registry, self.image, [attestation_layer(blob)])
        # The Secrets the example names hold the signer's key (the first) or another trusted
        # key (the rest: a key rotation's next key, which has signed nothing yet).
        keys = (gates.get("signature") or {}).get("publicKeys") or []
        self.key_file = secrets_dir / "keys" / "cosign.pub"
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        self.key_file.write_bytes(self.signer.public_pem)
        for i, key in enumerate(k for k in keys if "secret" in k):
            pem = self.signer.public_pem if i == 0 else CosignTestSigner("next").public_pem
            path = secrets_dir / key["secret"] / "cosign.pub"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pem)

    def client(self, host: str) -> RegistryClient:
        """A registry client for ``host`` talking to the fake registry."""
        return RegistryClient(host, transport=self.registry.transport, sleep=lambda s: None)


def _scaled(text: str, factor: float) -> str:
    return f"{parse_duration(text).total_seconds() * factor:g}s"


def scale_durations(spec: dict[str, Any], factor: float) -> None:
    """Multiply every duration of the rollout's strategy and analysis by ``factor``."""
    for step in (spec["strategy"].get("canary") or {}).get("steps") or []:
        for kind in ("analyze", "pause"):
            body = step.get(kind) or {}
            for key in ("maxDuration", "minDuration", "duration"):
                if key in body:
                    body[key] = _scaled(body[key], factor)
    analysis = spec.get("analysis")
    if analysis is not None:
        # The analysis windows too (30 s unless set), so that each Kayenta interval still
        # holds as many time-series points as the example's would.
        analysis["interval"] = _scaled(analysis.get("interval", "30s"), factor)
        kayenta = analysis.get("kayenta") or {}
        if "interval" in kayenta:
            kayenta["interval"] = _scaled(kayenta["interval"], factor)


def substitute(
    raw: dict[str, Any],
    *,
    namespace: str,
    image: str,
    hooks: Any,
    key_file: Path,
    time_scale: float = 1.0,
) -> dict[str, Any]:
    """The example with ``SUBSTITUTIONS`` applied (``hooks``: a ``receiver.HookReceiver``)
    and its durations multiplied by ``time_scale``."""
    out = copy.deepcopy(raw)
    out["metadata"]["namespace"] = namespace
    spec = out["spec"]
    spec["release"]["image"] = image
    for hook in spec.get("webhooks") or []:
        hook["url"] = hooks.url(f"/webhooks/{hook['type']}")
    for note in spec.get("notifications") or []:
        note["url"] = hooks.url(f"/notifications/{note['type']}")
    for key in ((spec.get("gates") or {}).get("signature") or {}).get("publicKeys") or []:
        if "file" in key:
            key["file"] = str(key_file)
    analysis = spec.get("analysis") or {}
    if analysis and analysis.get("judge", "sequential") == "sequential":
        analysis.setdefault("minDuration", SOAK)
    if time_scale != 1.0:
        scale_durations(spec, time_scale)
    return out


def old_image(example: Example) -> str:
    """The release the blue environment runs before the rollout (another digest)."""
    repository = ImageRef.parse(example.spec["release"]["image"]).repository
    return f"{repository}@sha256:{hashlib.sha256(b'previous release').hexdigest()}"
