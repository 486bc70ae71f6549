"""Hand-written fakes for the controller loop's ports (state, environments, gates, judge)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mlrollout.core import AnalysisLook, EnvState, VerificationOutcome
from mlrollout.core.actions import Deploy
from mlrollout.errors import ConflictError
from mlrollout.kube.rollouts import StoredRollout, parse_stored
from mlrollout.model.analysis import AnalysisDecision
from mlrollout.spec import RolloutStatus
from mlrollout.spec.status import EnvName, Phase
from mlrollout.traffic.fake import FakeRouter

OLD = "registry.example.com/ml/fraud-scorer@sha256:" + "0" * 64


class Crash(BaseException):
    """Raised at a crash point: the process "dies" there (BaseException: nothing catches it)."""


class FakeClock:
    """Time that moves only when slept."""

    def __init__(self) -> None:
        self.t = 0.0
        self.start = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.001)


@dataclass
class MemoryState:
    """A ModelRollout held in memory with resourceVersions and a write log."""

    raw: dict[str, Any]
    version: int = 1
    writes: list[RolloutStatus] = field(default_factory=list)
    conflicts: int = 0

    def __post_init__(self) -> None:
        self.raw["metadata"].update(
            {"resourceVersion": "1", "generation": 1, "namespace": "default"}
        )

    @property
    def identity(self) -> dict[str, str]:
        """The rollout's namespace and name, as an ``Edge`` names it."""
        return {"namespace": "default", "name": self.raw["metadata"]["name"]}

    def read(self, namespace: str = "default", name: str | None = None) -> StoredRollout:
        assert (namespace, name or self.raw["metadata"]["name"]) == tuple(self.identity.values())
        return parse_stored(copy.deepcopy(self.raw))

    def write_status(self, stored: StoredRollout, status: RolloutStatus) -> StoredRollout:
        if self.conflicts:
            self.conflicts -= 1
            raise ConflictError("injected", status=409)
        if stored.resource_version != str(self.version):
            raise ConflictError("stale", status=409)
        self.version += 1
        self.raw["metadata"]["resourceVersion"] = str(self.version)
        self.raw["status"] = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        self.writes.append(status)
        return self.read()

    def edit_spec(self, change: Callable[[dict[str, Any]], None]) -> None:
        change(self.raw["spec"])
        self.version += 1
        self.raw["metadata"]["resourceVersion"] = str(self.version)
        self.raw["metadata"]["generation"] += 1


@dataclass
class FakeEnvironments:
    """Two Deployments that become ready at once; keeps the router's view in step."""

    router: FakeRouter
    state: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "blue": {"image": OLD, "model": "0" * 64, "replicas": 4},
            "green": {"image": None, "model": None, "replicas": 0},
        }
    )
    previews: list[str] = field(default_factory=list)

    def observe(self) -> dict[EnvName, EnvState]:
        out: dict[EnvName, EnvState] = {}
        for name in ("blue", "green"):
            env = self.state[name]
            out[name] = EnvState(
                name=name,
                image=env["image"],
                model_sha256=env["model"],
                replicas=env["replicas"],
                ready_replicas=env["replicas"],
                rolled_out=True,
            )
        return out

    def deploy(self, action: Deploy) -> None:
        env = self.state[action.env]
        env["image"], env["model"] = action.image, action.model_sha256
        if action.replicas is not None:
            self.scale(action.env, action.replicas)

    def scale(self, env: EnvName, replicas: int) -> None:
        self.state[env]["replicas"] = replicas
        self.router.available[env] = replicas

    def set_preview(self, env: EnvName) -> None:
        self.previews.append(env)


@dataclass
class FakeVerifier:
    passes: bool = True
    calls: list[str] = field(default_factory=list)

    def verify(self, stored: StoredRollout) -> VerificationOutcome:
        assert stored.status.release is not None
        image = stored.status.release.image
        self.calls.append(image)
        return VerificationOutcome(
            image=image,
            passed=self.passes,
            reason_code=None if self.passes else "UNSIGNED",
            message="ok" if self.passes else "no signature",
        )


@dataclass
class ScriptedAnalyst:
    """Answers ``script(step, look number)``; counts looks per step."""

    script: Callable[[int, int], str] = lambda step, n: "promote"
    looks: dict[int, int] = field(default_factory=dict)

    def look(self, stored: StoredRollout, *, now_s: float) -> AnalysisLook | None:
        status = stored.status
        step = status.current_step or 0
        canary = stored.rollout.spec.strategy.canary
        if canary is not None and (step >= len(canary.steps) or canary.steps[step].analyze is None):
            return None
        n = self.looks.get(step, 0) + 1
        self.looks[step] = n
        return AnalysisLook(
            decision=AnalysisDecision(self.script(step, n)),
            reason=f"look {n} at step {step}",
            step=step,
        )


def phase_of(state: MemoryState) -> Phase:
    return state.read().status.phase
