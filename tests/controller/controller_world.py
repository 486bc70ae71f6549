"""An in-memory world for ``decide()``: environments, a router, gates and a scripted judge.

Each pass builds an ``Observation`` from the world, calls ``decide()`` and applies the
decision through the production effects (``controller.effects.apply_decision``), so intent
first (``traffic.target`` written before the router moves), the nearest weight, the audit
line and the status write are the real code. The world only supplies in-memory ports: the
rollout's state (``loop_fakes.MemoryState``), two environments that store what they are told
and become ready after ``ready_after`` passes, and the shipped ``FakeRouter`` (which refuses
weight to an environment with no replicas); every split the router achieves is kept for
invariant checks. Gates, webhooks and the judge are scripted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loop_fakes import MemoryState

from mlrollout.controller.effects import Edge, apply_decision
from mlrollout.core import AnalysisLook, EnvState, Observation, VerificationOutcome, decide
from mlrollout.core.actions import Action, Deploy
from mlrollout.core.confirmations import compute_due
from mlrollout.core.decision import Decision
from mlrollout.core.observation import UndoRequest
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.model.analysis import AnalysisDecision
from mlrollout.spec import ModelRollout, RolloutStatus, load_object
from mlrollout.spec.status import EnvName, Intent, Phase, TrafficSplit
from mlrollout.spec.strategy import RouterKind
from mlrollout.spec.yamlfile import parse_yaml_documents
from mlrollout.traffic.fake import FakeRouter

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
class WorldEnvironments:
    """The ``Environments`` port over the world's two environments: it stores what it is told.

    A Deploy that changes an environment's release starts a rollout of ``ready_after()``
    passes (``World.tick_readiness``); the replica counts are what the router sees.
    """

    envs: dict[EnvName, Env]
    pending_ready: dict[EnvName, int]
    ready_after: Callable[[], int]
    available: dict[EnvName, int] = field(default_factory=dict)  # the router's view
    previews: list[EnvName] = field(default_factory=list)

    def observe(self) -> dict[EnvName, EnvState]:
        return {
            name: EnvState(
                name=name,
                image=e.image or None,
                model_sha256=e.model or None,
                replicas=e.replicas,
                ready_replicas=e.ready,
                rolled_out=name not in self.pending_ready,
            )
            for name, e in self.envs.items()
        }

    def deploy(self, action: Deploy) -> None:
        env = self.envs[action.env]
        if (env.image, env.model) != (action.image, action.model_sha256):
            self.pending_ready[action.env] = self.ready_after()
        env.image, env.model = action.image, action.model_sha256 or ""
        if action.replicas is not None:
            self.scale(action.env, action.replicas)

    def scale(self, env: EnvName, replicas: int) -> None:
        self.envs[env].replicas = replicas
        self.envs[env].ready = min(self.envs[env].ready, replicas)
        self.available[env] = replicas

    def set_preview(self, env: EnvName) -> None:
        self.previews.append(env)


class WorldRouter(FakeRouter):
    """The shipped in-memory router over the world's environments, keeping every split it
    achieves. For a rollout routed by ``replicas`` it first scales an empty canary to one pod
    before giving it weight, as ``ReplicasRouter`` scales up before it routes."""

    def __init__(self, environments: WorldEnvironments, *, replicas_routed: bool) -> None:
        super().__init__(
            live_env="blue", available={n: e.replicas for n, e in environments.envs.items()}
        )
        environments.available = self.available
        self.environments = environments
        self.replicas_routed = replicas_routed
        self.applied: list[TrafficSplit] = []

    def shift(self, target: TrafficSplit) -> TrafficSplit:
        canary = self.environments.envs[target.canary_env]
        if self.replicas_routed and target.canary_bp > 0 and canary.replicas == 0:
            self.environments.scale(target.canary_env, 1)
        achieved = super().shift(target)
        self.applied.append(achieved)
        return achieved


@dataclass
class World:
    raw: dict[str, Any]
    judge: Judge = lambda step, n: "promote"
    gates_pass: bool = True
    ready_after: int = 0  # passes a new deployment needs to become ready
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    generation: int = 1
    envs: dict[EnvName, Env] = field(
        default_factory=lambda: {
            "blue": Env(OLD_IMAGE, OLD_MODEL, 4, 4),
            "green": Env("", "", 0, 0),
        }
    )
    intents: dict[Intent, datetime] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    log: list[tuple[datetime, Action]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    looks: dict[int, int] = field(default_factory=dict)
    pending_ready: dict[EnvName, int] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)  # webhook types that do not confirm
    asked: list[str] = field(default_factory=list)
    undo: UndoRequest | None = None  # what `mlrollout undo` wrote for this generation
    actor: str | None = "mlrollout-cli-test-1"

    def __post_init__(self) -> None:
        self.state = MemoryState(raw=self.raw)  # shares ``raw``: spec edits are seen
        self.environments = WorldEnvironments(
            self.envs, self.pending_ready, ready_after=lambda: self.ready_after
        )
        replicas = self.rollout.spec.strategy.traffic.router is RouterKind.REPLICAS
        self.router = WorldRouter(self.environments, replicas_routed=replicas)
        self.edge = Edge(
            state=self.state,
            namespace=self.state.identity["namespace"],
            name=self.state.identity["name"],
            environments=self.environments,
            router=self.router,
        )
        self.stored: StoredRollout = self.state.read()

    @property
    def rollout(self) -> ModelRollout:
        r = load_object(self.raw, source="world")
        assert isinstance(r, ModelRollout)
        return r

    @property
    def status(self) -> RolloutStatus:
        """The status as last written by the effects."""
        return self.stored.status

    @property
    def applied(self) -> list[TrafficSplit]:
        """Every split the router achieved, in order."""
        return self.router.applied

    @property
    def traffic(self) -> TrafficSplit:
        """The split in force, seen from the active environment (as the loop observes it)."""
        return self.router.observe(self.status.active_env or "blue")

    def observe(self, stored: StoredRollout | None = None) -> Observation:
        """What the loop would observe now (the rollout as stored unless ``stored`` given)."""
        stored = stored if stored is not None else self.state.read()
        status, rollout = stored.status, stored.rollout
        release = rollout.spec.release
        verification = None
        if status.phase is Phase.VERIFYING:
            verification = VerificationOutcome(
                image=release.image,
                passed=self.gates_pass,
                reason_code=None if self.gates_pass else "UNSIGNED",
                message="verified" if self.gates_pass else "no signature",
            )
        analysis = None
        step = status.current_step or 0
        if status.phase is Phase.PROGRESSING and self._analysing(rollout, step):
            n = self.looks.get(step, 0) + 1
            self.looks[step] = n
            decision = AnalysisDecision(self.judge(step, n))
            analysis = AnalysisLook(decision=decision, reason=f"look {n}", step=step)
        confirmations = {}
        skip = self.undo is not None and self.undo.skip_analysis
        for kind in compute_due(rollout, status, self.intents, skip_analysis=skip):
            self.asked.append(kind.value)
            confirmations[kind.value] = (kind.value not in self.refuse, "HTTP 403: frozen")
        return Observation(
            rollout=rollout,
            generation=self.generation,
            now=self.now,
            envs=self.environments.observe(),
            traffic=self.traffic,
            verification=verification,
            analysis=analysis,
            intents=dict(self.intents),
            confirmations=confirmations,
            undo=self.undo,
            actor=self.actor,
        )

    @staticmethod
    def _analysing(rollout: ModelRollout, step: int) -> bool:
        spec = rollout.spec
        if spec.strategy.canary is not None:
            steps = spec.strategy.canary.steps
            return step < len(steps) and steps[step].analyze is not None
        bg = spec.strategy.blue_green
        assert bg is not None
        return (bg.pre_promotion_analysis if step == 0 else bg.post_promotion_analysis) is not None

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
        """One pass: observe, decide, apply through the production effects."""
        self.tick_readiness()
        self.raw["metadata"]["generation"] = self.generation
        stored = self.state.read()
        decision = decide(self.observe(stored))
        self.decisions.append(decision)
        self.actions.extend(decision.actions)
        self.log.extend((self.now, action) for action in decision.actions)
        self.stored = apply_decision(self.edge, stored, decision, now=self.now)
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
        """The share of traffic ``env`` gets now, in percent."""
        return self.router.weights[env] / 100
