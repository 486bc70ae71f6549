"""An in-memory world for ``decide()``: environments, a router, gates and a scripted judge.

It applies actions the way the effects layer does (intent first: ``Shift`` records the
target, the router moves, then ``applied`` is recorded) so whole rollouts can be driven
pass by pass without a cluster, and every split ever applied is kept for invariant checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlrollout.core import AnalysisLook, EnvState, Observation, VerificationOutcome, decide
from mlrollout.core.actions import Action, Deploy, ScaleEnv, Shift
from mlrollout.core.confirmations import compute_due
from mlrollout.core.decision import Decision
from mlrollout.core.observation import UndoRequest
from mlrollout.model.analysis import AnalysisDecision
from mlrollout.spec import ModelRollout, RolloutStatus, load_object
from mlrollout.spec.status import EnvName, Intent, Phase, TrafficSplit
from mlrollout.spec.yamlfile import parse_yaml_documents

ROOT = Path(__file__).resolve().parents[2]
OLD_IMAGE = "registry.example.com/ml/fraud-scorer@sha256:" + "0" * 64
OLD_MODEL = "0" * 64
NEW = (
    "registry.example.com/ml/fraud-scorer@sha256:"
    "4f6d1b2c8a9e0f3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b"
)

Judge = Callable[[int, int], str]  # (step, looks at that step) -> decision


def rollout_from(example: str, **spec_changes: Any) -> dict[str, Any]:
    """An example rollout as a dict, with top-level spec fields replaced."""
    [obj] = parse_yaml_documents((ROOT / "examples" / example).read_text(), source=example)
    obj["spec"].update(spec_changes)
    return obj


@dataclass
class Env:
    image: str
    model: str
    replicas: int
    ready: int


@dataclass
class World:
    raw: dict[str, Any]
    judge: Judge = lambda step, n: "promote"
    gates_pass: bool = True
    ready_after: int = 0  # passes a new deployment needs to become ready
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    generation: int = 1
    status: RolloutStatus = field(default_factory=RolloutStatus)
    envs: dict[str, Env] = field(
        default_factory=lambda: {
            "blue": Env(OLD_IMAGE, OLD_MODEL, 4, 4),
            "green": Env("", "", 0, 0),
        }
    )
    traffic: TrafficSplit = field(
        default_factory=lambda: TrafficSplit(stable_env="blue", canary_env="green", canaryWeight=0)
    )
    intents: dict[Intent, datetime] = field(default_factory=dict)
    applied: list[TrafficSplit] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    log: list[tuple[datetime, Action]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    looks: dict[int, int] = field(default_factory=dict)
    pending_ready: dict[str, int] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)  # webhook types that do not confirm
    asked: list[str] = field(default_factory=list)
    undo: UndoRequest | None = None  # what `mlrollout undo` wrote for this generation
    actor: str | None = "mlrollout-cli-test-1"

    @property
    def rollout(self) -> ModelRollout:
        r = load_object(self.raw, source="world")
        assert isinstance(r, ModelRollout)
        return r

    def observe(self) -> Observation:
        release = self.rollout.spec.release
        verification = None
        if self.status.phase is Phase.VERIFYING:
            verification = VerificationOutcome(
                image=release.image,
                passed=self.gates_pass,
                reason_code=None if self.gates_pass else "UNSIGNED",
                message="verified" if self.gates_pass else "no signature",
            )
        analysis = None
        step = self.status.current_step or 0
        if self.status.phase is Phase.PROGRESSING and self._analysing(step):
            n = self.looks.get(step, 0) + 1
            self.looks[step] = n
            decision = AnalysisDecision(self.judge(step, n))
            analysis = AnalysisLook(decision=decision, reason=f"look {n}", step=step)
        envs = {
            name: EnvState(
                name=name,
                image=e.image or None,
                model_sha256=e.model or None,  # type: ignore[arg-type]
                replicas=e.replicas,
                ready_replicas=e.ready,
                rolled_out=name not in self.pending_ready,
            )
            for name, e in self.envs.items()
        }
        status = self.status.model_dump(mode="json", by_alias=True, exclude_none=True)
        raw = dict(self.raw, status=status)
        rollout = load_object(raw, source="world")
        assert isinstance(rollout, ModelRollout)
        confirmations = {}
        skip = self.undo is not None and self.undo.skip_analysis
        for kind in compute_due(rollout, self.status, self.intents, skip_analysis=skip):
            self.asked.append(kind.value)
            confirmations[kind.value] = (kind.value not in self.refuse, "HTTP 403: frozen")
        return Observation(
            rollout=rollout,
            generation=self.generation,
            now=self.now,
            envs=envs,
            traffic=self.traffic,
            verification=verification,
            analysis=analysis,
            intents=dict(self.intents),
            confirmations=confirmations,
            undo=self.undo,
            actor=self.actor,
        )

    def _analysing(self, step: int) -> bool:
        spec = self.rollout.spec
        if spec.strategy.canary is not None:
            steps = spec.strategy.canary.steps
            return step < len(steps) and steps[step].analyze is not None
        bg = spec.strategy.blue_green
        assert bg is not None
        return (bg.pre_promotion_analysis if step == 0 else bg.post_promotion_analysis) is not None

    def apply(self, action: Action) -> None:
        self.actions.append(action)
        self.log.append((self.now, action))
        if isinstance(action, Deploy):
            env = self.envs[action.env]
            if (env.image, env.model) != (action.image, action.model_sha256):
                self.pending_ready[action.env] = self.ready_after
            env.image, env.model = action.image, action.model_sha256
            if action.replicas is not None:
                env.replicas = action.replicas
        elif isinstance(action, ScaleEnv):
            self.envs[action.env].replicas = action.replicas
            self.envs[action.env].ready = min(self.envs[action.env].ready, action.replicas)
        elif isinstance(action, Shift):
            self.status = self.status.model_copy(
                update={"traffic": self.status.traffic.model_copy(update={"target": action.split})}
            )
            canary = self.envs[action.split.canary_env]
            if action.split.canary_percent > 0 and canary.replicas == 0:
                canary.replicas = 1  # the replicas router scales the canary up to route to it
            self.traffic = action.split
            self.applied.append(action.split)
            self.status = self.status.model_copy(
                update={"traffic": self.status.traffic.model_copy(update={"applied": action.split})}
            )

    def tick_readiness(self) -> None:
        for name in list(self.pending_ready):
            if self.pending_ready[name] <= 0:
                del self.pending_ready[name]
            else:
                self.pending_ready[name] -= 1
        for name, env in self.envs.items():
            if name not in self.pending_ready:
                env.ready = env.replicas

    def step(self) -> Decision:
        self.tick_readiness()
        decision = decide(self.observe())
        self.decisions.append(decision)
        self.status = decision.status
        for action in decision.actions:
            self.apply(action)
        for intent in list(self.intents):
            if self.status.acknowledged_intents.get(intent.value) == self.intents[intent]:
                del self.intents[intent]
        self.now += max(decision.requeue_after or timedelta(seconds=1), timedelta(seconds=1))
        return decision

    def run(self, *, until: Callable[[World], bool] | None = None, limit: int = 400) -> Phase:
        terminal = {
            Phase.SUCCEEDED,
            Phase.ROLLED_BACK,
            Phase.ABORTED,
            Phase.FAILED,
            Phase.REFUSED,
            Phase.PAUSED,
        }
        for _ in range(limit):
            self.step()
            if until is not None and until(self):
                return self.status.phase
            if until is None and self.status.phase in terminal:
                return self.status.phase
        raise AssertionError(
            f"no end after {limit} passes: {self.status.phase} {self.status.message}"
        )

    def canary_share(self, env: EnvName) -> float:
        """The share of traffic ``env`` gets now."""
        t = self.traffic
        return t.canary_percent if t.canary_env == env else t.stable_percent
