"""The sequential judge (STATISTICS.md §4): anytime-valid rollback / promote / continue.

Rollback at the first look where a critical metric's rollback e-value reaches 1/α_k
(Σ α_k = α_c) or the weighted average of the non-critical ones reaches 1/α_n; promote when
every gated metric's promote e-value has reached 1/β_anytime (intersection–union), the
soak is met and no guard holds (a tripwire with canary events above background in its
recent windows, or a guard with a margin whose rollback e-value is above 1); at
maxDuration one fixed-horizon look at β_final may still promote, else apply
``onInconclusive`` — but never ``promote`` while a gated metric has had no usable window or
a guard holds. Errored and empty windows are recorded, never counted as health; an empty
window does not end a streak of errored ones. Dry-run metrics are judged on their own at α
and reported, never decide. Neighbours: per-kind ``evidence``; the controller feeds windows
scrape by scrape and persists ``to_dict()`` to resume after a crash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlrollout.analysis.config import JudgedMetric, SequentialConfig, compute_alpha_budgets
from mlrollout.analysis.evidence import EvidenceSummary, MetricEvidence, build_evidence
from mlrollout.analysis.kinds import AnalysisDecision, InconclusivePolicy, MetricKind, Verdict
from mlrollout.analysis.observations import Window, WindowStatus
from mlrollout.analysis.verdicts import Look, MetricVerdict
from mlrollout.errors import SpecError

__all__ = ["SequentialJudge"]

_POLICY_DECISION = {
    InconclusivePolicy.PAUSE: AnalysisDecision.PAUSE,
    InconclusivePolicy.ROLLBACK: AnalysisDecision.ROLLBACK,
    InconclusivePolicy.PROMOTE: AnalysisDecision.PROMOTE,
}


_DRY_RUN_UNDECIDED = (Verdict.INCONCLUSIVE, "dry run, not deciding: undecided at the end")


@dataclass
class _Track:
    spec: JudgedMetric
    evidence: MetricEvidence
    windows: int = 0
    errored: int = 0
    empty: int = 0
    error_streak: int = 0
    promote_reached: bool = False
    last_error: str | None = None
    summary: EvidenceSummary | None = field(default=None, repr=False)


_LEANING_KINDS = frozenset({MetricKind.ERRORS, MetricKind.ACCURACY, MetricKind.LATENCY_TAIL})


def _holds(track: _Track) -> bool:
    """A guard holds promotion: a tripwire saw canary events above background recently, or
    a guard with a margin leans towards a regression (its rollback e-value is above 1).

    Above 1 the guard's data favour a regression beyond the margin over one at the margin;
    a release well within the margin sees that e-value fall (its expectation is at most 1
    and it drifts down), so a good release is delayed for a while at most, while one with,
    say, twice the error rate is held until its rollback is shown. Holding only removes
    promotions, so neither α nor the gates' β changes.
    """
    summary = track.summary
    if summary is None:
        return False
    if summary.holding:
        return True
    spec = track.spec
    return not spec.gated and spec.kind in _LEANING_KINDS and summary.log_e_rollback > 0.0


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.3g}"


class SequentialJudge:
    """Incremental judge over a fixed set of metrics; one ``observe`` call per look."""

    def __init__(self, specs: Sequence[JudgedMetric], config: SequentialConfig) -> None:
        names = [s.name for s in specs]
        if not specs or len(set(names)) != len(names):
            raise SpecError("metric names must be unique and non-empty", path="analysis")
        self.config = config
        self.alpha_critical, self.alpha_group = compute_alpha_budgets(specs, config)
        self.tracks = {s.name: _Track(spec=s, evidence=build_evidence(s)) for s in specs}
        self.elapsed_s = 0.0
        self.outcome: Look | None = None

    def observe(
        self, windows: Mapping[str, Window], *, elapsed_s: float, detail: bool = True
    ) -> Look:
        """Fold in one window per metric (missing = empty) and decide at ``elapsed_s``.

        With ``detail=False`` non-final looks skip the confidence sequences (simulation);
        a final look always carries them.
        """
        if self.outcome is not None:
            return self.outcome
        unknown = set(windows) - set(self.tracks)
        if unknown:
            raise SpecError(f"windows for unknown metrics: {sorted(unknown)}", path="analysis")
        self.elapsed_s = elapsed_s
        for name, track in self.tracks.items():
            self._fold(track, windows.get(name) or Window.empty(0.0))
        look = self._decide(detail=detail)
        if look.final and not detail:
            look = self._decide(detail=True)
        if look.final:
            self.outcome = look
        return look

    def _fold(self, track: _Track, window: Window) -> None:
        if window.status is WindowStatus.ERRORED:
            track.errored += 1
            track.error_streak += 1
            track.last_error = window.error
            return
        if window.usable and track.evidence.update(window):
            track.windows += 1
            track.error_streak = 0  # only data ends a streak: empty windows do not
        else:
            track.empty += 1

    def _summaries(self, detail: bool) -> None:
        for track in self.tracks.values():
            track.summary = track.evidence.summarise(self.config.alpha, detail=detail)
            # Current, not sticky: promotion needs the evidence at this look (after the
            # soak), so a regression that starts after early evidence withdraws it. Valid:
            # promoting at a look where e ≥ 1/β lies within {sup e ≥ 1/β} (Ville).
            threshold = math.log(1.0 / self.config.beta_anytime)
            track.promote_reached = track.summary.log_e_promote >= threshold

    def _group_log_e(self) -> float:
        group = [t for t in self.tracks.values() if not t.spec.critical and not t.spec.dry_run]
        if not group:
            return -math.inf
        total = sum(t.spec.weight for t in group)
        mixed = sum(
            t.spec.weight / total * math.exp(min(t.summary.log_e_rollback, 700.0))
            for t in group
            if t.summary is not None
        )
        return math.log(mixed) if mixed > 0 else -math.inf

    def _decide(self, *, detail: bool) -> Look:
        self._summaries(detail)
        group_failed = self.alpha_group > 0 and self._group_log_e() >= math.log(
            1.0 / self.alpha_group
        )
        classes = {n: self._classify(t, group_failed) for n, t in self.tracks.items()}
        decision, reason, relabel = self._choose(classes)
        if decision is AnalysisDecision.CONTINUE and not detail:
            return self._look(decision, reason, ())
        records = []
        for name, (verdict, why, rollback_at) in classes.items():
            if verdict is Verdict.RUNNING and relabel is not None:
                verdict, why = _DRY_RUN_UNDECIDED if self.tracks[name].spec.dry_run else relabel
            records.append(
                self._verdict_record(
                    self.tracks[name], verdict=verdict, why=why, rollback_at=rollback_at
                )
            )
        return self._look(decision, reason, tuple(records))

    def _choose(
        self, classes: Mapping[str, tuple[Verdict, str, float]]
    ) -> tuple[AnalysisDecision, str, tuple[Verdict, str] | None]:
        """AnalysisDecision, reason and the verdict that still-running metrics end with."""
        cfg = self.config
        classes = {n: c for n, c in classes.items() if not self.tracks[n].spec.dry_run}
        failed = [n for n, c in classes.items() if c[0] is Verdict.FAILED]
        if failed:
            return AnalysisDecision.ROLLBACK, f"regression shown on {', '.join(failed)}", None
        broken = [n for n, c in classes.items() if c[0] is Verdict.ERROR]
        if broken:
            return _POLICY_DECISION[cfg.on_error], f"provider errors on {', '.join(broken)}", None
        deciding = [t for t in self.tracks.values() if not t.spec.dry_run]
        gated = [t for t in deciding if t.spec.gated]
        holding = [t.spec.name for t in deciding if t.summary and _holds(t)]
        ready = gated and all(t.promote_reached for t in gated)
        if ready and not holding and self.elapsed_s >= cfg.min_soak_s:
            done = (Verdict.SUCCESSFUL, "no regression shown (not gated)")
            return AnalysisDecision.PROMOTE, "every gated metric is within its margin", done
        if self.elapsed_s >= cfg.max_duration_s:
            if self._final_look(gated) and not holding and self.elapsed_s >= cfg.min_soak_s:
                done = (Verdict.SUCCESSFUL, "no regression shown (not gated)")
                reason = "every gated metric is within its margin at the final look"
                return AnalysisDecision.PROMOTE, reason, done
            reason = f"maxDuration reached; onInconclusive={cfg.on_inconclusive}"
            ended = (Verdict.INCONCLUSIVE, "undecided at maxDuration")
            decision = _POLICY_DECISION[cfg.on_inconclusive]
            blind = [t.spec.name for t in gated if t.windows == 0]
            if decision is AnalysisDecision.PROMOTE and (blind or holding):
                # Fail safe: never promote on no data or during an incident, whatever
                # onInconclusive says.
                why = f"no usable data on {', '.join(blind)}" if blind else "a guard holds"
                reason += f", but {why}: pausing instead"
                return AnalysisDecision.PAUSE, reason, ended
            return decision, reason, ended
        if holding:
            return AnalysisDecision.CONTINUE, f"held by guards: {', '.join(holding)}", None
        return AnalysisDecision.CONTINUE, "collecting evidence", None

    def _final_look(self, gated: Sequence[_Track]) -> bool:
        """The fixed-horizon look at maxDuration, at β·final_look_share."""
        beta = self.config.beta_final
        if not gated or beta <= 0:
            return False
        return all(t.promote_reached or t.evidence.passes_final(beta) for t in gated)

    def _look(
        self, decision: AnalysisDecision, reason: str, metrics: tuple[MetricVerdict, ...]
    ) -> Look:
        return Look(decision=decision, reason=reason, elapsed_s=self.elapsed_s, metrics=metrics)

    def _classify(self, track: _Track, group_failed: bool) -> tuple[Verdict, str, float]:
        spec, summary = track.spec, track.summary
        assert summary is not None
        if spec.dry_run:
            return self._classify_dry_run(track)
        alpha_k = self.alpha_critical[spec.name] if spec.critical else self.alpha_group
        rollback_at = 1.0 / alpha_k
        verdict = Verdict.RUNNING
        if summary.forced is Verdict.FAILED:
            verdict, why = Verdict.FAILED, "threshold check failed"
        elif spec.critical and summary.log_e_rollback >= math.log(rollback_at):
            verdict, why = Verdict.FAILED, "regression beyond the margin shown"
        elif not spec.critical and group_failed and summary.log_e_rollback > 0:
            verdict, why = Verdict.FAILED, "weighted group shows a regression"
        elif track.error_streak >= self.config.error_limit:
            verdict, why = Verdict.ERROR, f"{track.error_streak} errored windows in a row"
        elif track.promote_reached and spec.gated:
            verdict, why = Verdict.SUCCESSFUL, "within the margin"
        else:
            why = "not enough evidence yet" if track.windows else "no data yet"
        return verdict, why, rollback_at

    def _classify_dry_run(self, track: _Track) -> tuple[Verdict, str, float]:
        """A dry-run metric on its own at α, as if it were the only critical one."""
        summary = track.summary
        assert summary is not None
        rollback_at = 1.0 / self.config.alpha
        if summary.forced is Verdict.FAILED:
            return Verdict.FAILED, "dry run, not deciding: threshold check failed", rollback_at
        if summary.log_e_rollback >= math.log(rollback_at):
            return Verdict.FAILED, "dry run, not deciding: regression shown", rollback_at
        if track.error_streak >= self.config.error_limit:
            why = f"dry run, not deciding: {track.error_streak} errored windows in a row"
            return Verdict.ERROR, why, rollback_at
        if track.promote_reached and track.spec.gated:
            return Verdict.SUCCESSFUL, "dry run, not deciding: within the margin", rollback_at
        return Verdict.RUNNING, "dry run, not deciding: not enough evidence yet", rollback_at

    def _verdict_record(
        self, track: _Track, *, verdict: Verdict, why: str, rollback_at: float
    ) -> MetricVerdict:
        summary = track.summary
        assert summary is not None
        e_rb = math.exp(min(summary.log_e_rollback, 700.0))
        e_pr = math.exp(min(summary.log_e_promote, 700.0))
        interval = f"[{_fmt(summary.lower)}, {_fmt(summary.upper)}]"
        estimate = "n/a" if summary.estimate is None else _fmt(summary.estimate)
        reason = (
            f"{track.spec.name}: {why}; {summary.unit} {estimate} "
            f"({1 - self.config.alpha:.0%} CS {interval}); rollback e-value {_fmt(e_rb)} "
            f"(needs {_fmt(rollback_at)}), promote e-value {_fmt(e_pr)} "
            f"(needs {_fmt(1 / self.config.beta_anytime)})"
        )
        if track.errored or track.empty:
            reason += f"; {track.errored} errored and {track.empty} empty windows"
        return MetricVerdict(
            name=track.spec.name,
            kind=track.spec.kind.value,
            verdict=verdict,
            reason=reason,
            estimate=summary.estimate,
            lower=summary.lower,
            upper=summary.upper,
            unit=summary.unit,
            e_rollback=e_rb,
            e_promote=e_pr,
            rollback_at=rollback_at,
            promote_at=1.0 / self.config.beta_anytime,
            events=summary.events,
            windows=track.windows,
            errored_windows=track.errored,
            empty_windows=track.empty,
            dry_run=track.spec.dry_run,
        )

    def reopen(self) -> None:
        """Forget a final look, so the next step decides afresh on the evidence carried."""
        self.outcome = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state: evidence, counters and the terminal look if any."""
        return {
            "elapsed_s": self.elapsed_s,
            "outcome": None if self.outcome is None else self.outcome.to_dict(),
            "metrics": {
                name: {
                    "evidence": t.evidence.to_dict(),
                    "windows": t.windows,
                    "errored": t.errored,
                    "empty": t.empty,
                    "error_streak": t.error_streak,
                    "promote_reached": t.promote_reached,
                }
                for name, t in self.tracks.items()
            },
        }

    @classmethod
    def from_dict(
        cls, specs: Sequence[JudgedMetric], config: SequentialConfig, state: Mapping[str, Any]
    ) -> SequentialJudge:
        """Rebuild a judge from ``to_dict`` output with the same specs and config."""
        judge = cls(specs, config)
        judge.load(state)
        return judge

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore state written by :meth:`to_dict` (same specs and config)."""
        self.elapsed_s = float(state["elapsed_s"])
        for name, saved in state["metrics"].items():
            track = self.tracks[name]
            track.evidence.load(saved["evidence"])
            track.windows, track.errored = int(saved["windows"]), int(saved["errored"])
            track.empty, track.error_streak = int(saved["empty"]), int(saved["error_streak"])
            track.promote_reached = bool(saved["promote_reached"])
        if state.get("outcome") is not None:
            self.outcome = self._decide(detail=True)
