"""The GPU environments: readiness as a pure function, the release write, scaling, waits.

Tests that ask for ``ns`` (directly or through ``envs``) run on the real control plane; a
Deployment is held never-ready by rolling it to pods the scheduler cannot place."""

from __future__ import annotations

import doctest
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import mlrollout.kube.environments as environments_module
from controlplane.fixtures import TestBed
from controlplane.workloads import POOL_LABEL, gpu_node, wait_until
from mlrollout.clock import SystemClock
from mlrollout.errors import DeadlineError, RouterError, SpecError
from mlrollout.kube import KubeClient
from mlrollout.kube.environments import (
    MODEL_SHA_ANNOTATION,
    MODEL_SHA_ENV,
    MODEL_URI_ENV,
    GpuEnvironments,
    assess_readiness,
    compute_pod_gpus,
    compute_released,
)
from mlrollout.kube.kinds import DEPLOYMENTS, NODES, PODS
from mlrollout.model import ImageRef, Sha256

NS = "default"
OLD_IMAGE = "registry.example.com/ml/m@sha256:" + "a" * 64
NEW_IMAGE = ImageRef.parse("registry.example.com/ml/m@sha256:" + "b" * 64)
MODEL_SHA = Sha256("c" * 64)
MODEL_URI = "s3://models/m/7"


class StepClock:
    """Monotonic time that advances by what ``sleep`` asks, sleeping only a little for real."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds
        time.sleep(0.01)  # let the test server's controller move


def deployment(env: str, *, replicas: int = 2, containers: int = 1, ns: str = NS) -> dict[str, Any]:
    """A GPU Deployment whose pods the restricted Pod Security profile admits, on the node
    pool of namespace ``ns`` (kwok nodes on the real control plane)."""
    labels = {"app": "m", "env": env}
    names = ["model", "sidecar"][:containers]
    hardened = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"m-{env}", "namespace": ns, "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {POOL_LABEL: ns},
                    "containers": [
                        {
                            "name": n,
                            "image": OLD_IMAGE,
                            "env": [
                                {"name": "LOG_LEVEL", "value": "info"},
                                {"name": MODEL_SHA_ENV, "value": "old"},
                            ],
                            "resources": {"limits": {"nvidia.com/gpu": "1"}},
                            "securityContext": hardened,
                        }
                        for n in names
                    ],
                },
            },
        },
    }


@pytest.fixture
def envs(kube: KubeClient, ns: str) -> GpuEnvironments:
    """Blue and green with 2 ready pods each, on the real control plane on 2 kwok nodes with
    3 GPUs each. (With no GPU free, a release of green would never finish on the real
    scheduler: the rolling update surges one pod, which cannot be placed, and keeps both old
    ones, since 25 % of 2 rounds to no unavailable pod.)"""
    for i in range(2):
        kube.create(NODES, gpu_node(f"{ns}-gpu-{i}", pool=ns, gpus=3))
    kube.create(DEPLOYMENTS, deployment("blue", ns=ns), ns)
    kube.create(DEPLOYMENTS, deployment("green", ns=ns), ns)
    made = GpuEnvironments(kube, namespace=ns, deployments={"blue": "m-blue", "green": "m-green"})
    wait_until(
        lambda: all(assess_readiness(made.fetch(e)).healthy for e in ("blue", "green")),
        what="blue and green ready on kwok nodes",
    )
    return made


def test_docstring_examples_hold() -> None:
    assert doctest.testmod(environments_module).failed == 0


def _with_status(generation: int = 2, desired: int = 3, **status: int) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": desired},
        "status": status,
    }


@pytest.mark.parametrize(
    ("obj", "rolled_out", "healthy"),
    [
        (
            _with_status(observedGeneration=2, replicas=3, updatedReplicas=3, availableReplicas=3),
            True,
            True,
        ),
        (
            _with_status(observedGeneration=1, replicas=3, updatedReplicas=3, availableReplicas=3),
            False,
            False,
        ),
        (
            _with_status(observedGeneration=2, replicas=3, updatedReplicas=2, availableReplicas=3),
            False,
            False,
        ),
        (
            _with_status(observedGeneration=2, replicas=3, updatedReplicas=3, availableReplicas=2),
            False,
            False,
        ),
        (
            _with_status(observedGeneration=2, replicas=4, updatedReplicas=3, availableReplicas=3),
            False,
            False,
        ),
        (_with_status(desired=0, observedGeneration=2), True, False),
        ({"metadata": {"generation": 1}, "spec": {"replicas": 1}}, False, False),
    ],
    ids=[
        "ready",
        "not-observed",
        "not-updated",
        "not-available",
        "old-pods-left",
        "scaled-to-zero",
        "no-status",
    ],
)
def test_readiness_is_a_pure_function_of_the_deployment(
    obj: dict[str, Any], rolled_out: bool, healthy: bool
) -> None:
    readiness = assess_readiness(obj)
    assert readiness.rolled_out is rolled_out
    assert readiness.healthy is healthy


def test_readiness_sees_an_exceeded_progress_deadline() -> None:
    obj = _with_status(observedGeneration=2)
    obj["status"]["conditions"] = [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    ]
    assert assess_readiness(obj).deadline_exceeded


def test_pod_gpus_ignore_other_resources() -> None:
    spec = {"containers": [{"resources": {"requests": {"cpu": "2"}}}]}
    assert compute_pod_gpus(spec) == {}


def test_release_sets_image_digest_and_model_in_the_model_container() -> None:
    released = compute_released(
        deployment("green", containers=2),
        image=NEW_IMAGE,
        model_uri=MODEL_URI,
        model_sha256=MODEL_SHA,
        container="model",
    )
    template = released["spec"]["template"]
    assert template["metadata"]["annotations"] == {MODEL_SHA_ANNOTATION: "c" * 64}
    model, sidecar = template["spec"]["containers"]
    assert model["image"] == str(NEW_IMAGE)
    assert model["env"] == [
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": MODEL_SHA_ENV, "value": "c" * 64},
        {"name": MODEL_URI_ENV, "value": MODEL_URI},
    ]
    assert sidecar["image"] == OLD_IMAGE


@pytest.mark.parametrize(
    ("containers", "name", "message"),
    [(2, None, "has 2 containers"), (1, "server", "has no container 'server'")],
    ids=["ambiguous", "missing"],
)
def test_release_needs_a_known_model_container(
    containers: int, name: str | None, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        compute_released(
            deployment("green", containers=containers),
            image=NEW_IMAGE,
            model_uri=MODEL_URI,
            model_sha256=MODEL_SHA,
            container=name,
        )


def _client_deployment_writes(cp: TestBed, ns: str) -> list[str]:
    """The admin client's accepted writes of Deployments in ``ns`` (the audit log)."""
    return [w.verb for w in cp.audit.writes(namespace=ns, resource="deployments", user="admin")]


def test_apply_release_is_one_write_and_the_pods_follow(
    envs: GpuEnvironments, kube: KubeClient, ns: str, cp: TestBed
) -> None:
    before = _client_deployment_writes(cp, ns)
    envs.apply_release(
        "green", live_env="blue", image=NEW_IMAGE, model_uri=MODEL_URI, model_sha256=MODEL_SHA
    )
    assert _client_deployment_writes(cp, ns) == [*before, "update"]
    # Real time: the real Deployment controller, scheduler and kwok replace the pods.
    ready = envs.wait_ready(
        "green", clock=SystemClock(), deadline=timedelta(seconds=30), poll=timedelta(seconds=0.2)
    )
    assert ready.healthy
    wait_until(
        lambda: len(kube.list(PODS, ns, label_selector="env=green")) == 2,
        what="the old green pods gone",
    )
    for p in kube.list(PODS, ns, label_selector="env=green"):
        assert p["metadata"]["annotations"][MODEL_SHA_ANNOTATION] == "c" * 64
        assert p["spec"]["containers"][0]["image"] == str(NEW_IMAGE)
        assert p["status"]["phase"] == "Running"


def test_the_live_environment_is_never_changed_in_place(
    envs: GpuEnvironments, ns: str, cp: TestBed
) -> None:
    before = _client_deployment_writes(cp, ns)
    with pytest.raises(RouterError, match="live environment blue"):
        envs.apply_release(
            "blue", live_env="blue", image=NEW_IMAGE, model_uri=MODEL_URI, model_sha256=MODEL_SHA
        )
    assert _client_deployment_writes(cp, ns) == before


def _never_ready(envs: GpuEnvironments, name: str) -> None:
    """Roll ``name`` to pods the real scheduler cannot place (a node pool with no nodes): the
    rollout of its Deployment never completes, so it is never healthy again."""
    nowhere = {
        "spec": {
            "template": {
                "metadata": {"annotations": {"restart": "1"}},
                "spec": {"nodeSelector": {POOL_LABEL: "nowhere"}},
            }
        }
    }
    envs.client.patch(DEPLOYMENTS, name, envs.namespace, nowhere)


def test_wait_ready_gives_up_at_the_deadline(envs: GpuEnvironments) -> None:
    _never_ready(envs, "m-green")
    clock = StepClock()
    with pytest.raises(DeadlineError, match=r"green \(m-green\) not ready after 5.0s: timed out"):
        envs.wait_ready(
            "green", clock=clock, deadline=timedelta(seconds=5), poll=timedelta(seconds=2)
        )
    assert clock.sleeps == [2.0, 2.0, 1.0]


def test_wait_ready_waits_for_the_warm_up_probe(envs: GpuEnvironments) -> None:
    answers = iter([False, False, True])
    clock = StepClock()
    envs.wait_ready(
        "green", clock=clock, deadline=timedelta(seconds=60), probe=lambda: next(answers)
    )
    assert next(answers, "done") == "done"
    with pytest.raises(DeadlineError, match="warm-up probe not passing"):
        envs.wait_ready(
            "green", clock=StepClock(), deadline=timedelta(seconds=3), probe=lambda: False
        )


def test_scale_down_refuses_the_only_healthy_environment(envs: GpuEnvironments) -> None:
    clock = StepClock()
    envs.wait_ready("blue", clock=clock, deadline=timedelta(seconds=30))
    _never_ready(envs, "m-green")
    envs.wait_ready("blue", clock=clock, deadline=timedelta(seconds=30))
    with pytest.raises(DeadlineError):
        envs.wait_ready("green", clock=clock, deadline=timedelta(seconds=1))
    with pytest.raises(RouterError, match="only healthy environment"):
        envs.scale_down("blue")
    envs.scale_down("green")  # an unhealthy environment may always go
    assert envs.fetch("green")["spec"]["replicas"] == 0
    assert envs.fetch("blue")["spec"]["replicas"] == 2


def test_scale_down_of_the_old_environment_once_the_new_one_is_healthy(
    envs: GpuEnvironments,
) -> None:
    clock = StepClock()
    envs.wait_ready("green", clock=clock, deadline=timedelta(seconds=30))
    envs.wait_ready("blue", clock=clock, deadline=timedelta(seconds=30))
    envs.scale_down("blue")
    assert envs.fetch("blue")["spec"]["replicas"] == 0


def test_patch_replicas_writes_annotations_in_the_same_request(
    envs: GpuEnvironments, cp: TestBed
) -> None:
    envs.patch_replicas("blue", 3, annotations={"mlrollout.io/x": "1"})
    obj = envs.fetch("blue")
    # (The Deployment controller keeps its own revision annotation beside ours.)
    assert (obj["spec"]["replicas"], obj["metadata"]["annotations"]["mlrollout.io/x"]) == (3, "1")
    envs.patch_replicas("blue", 1, annotations={"mlrollout.io/x": None})
    obj = envs.fetch("blue")
    assert obj["spec"]["replicas"] == 1
    assert "mlrollout.io/x" not in (obj["metadata"].get("annotations") or {})
    with pytest.raises(ValueError, match="must not be negative"):
        envs.patch_replicas("blue", -1)
    # One request each: replicas and annotations together, nothing for the refused value.
    patches = [
        w.verb
        for w in cp.audit.writes(namespace=envs.namespace, resource="deployments")
        if w.name == "m-blue" and w.subresource == "" and w.verb == "patch"
    ]
    assert patches == ["patch", "patch"]
