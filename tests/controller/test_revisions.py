"""Revision bookkeeping in ``decide()``: every release that reaches Succeeded is numbered,
recorded with its gate results in the same status write, bounded, and re-releasable."""

from __future__ import annotations

from typing import Any

import pytest
from controller_world import World, rollout_from

from mlrollout.core.observation import UndoRequest
from mlrollout.core.revisions import MESSAGE_LIMIT, record_revision
from mlrollout.errors import SpecError
from mlrollout.spec import load_object
from mlrollout.spec.status import Phase

STEPS = [{"setWeight": 25}, {"analyze": {"maxDuration": "20m"}}, {"setWeight": 50}]


def image(n: int) -> str:
    return f"registry.example.com/ml/fraud-scorer@sha256:{n:064x}"


def model(n: int) -> dict[str, str]:
    return {"uri": f"s3://models/fraud-scorer/{n}", "sha256": f"{n + 100:064x}"}


def world(strategy: str = "canary", **spec: Any) -> World:
    raw = rollout_from(f"{strategy}.yaml")
    if strategy == "canary":
        raw["spec"]["strategy"]["canary"]["steps"] = STEPS
    raw["spec"]["release"] = {"image": image(1), "model": model(1)}
    raw["spec"].update(spec)
    return World(raw=raw)


def release(w: World, n: int, *, undo: UndoRequest | None = None) -> Phase:
    """Write release ``n`` into the spec (a new generation) and run it to the end."""
    if w.status.phase is not Phase.PENDING:
        w.raw["spec"]["release"] = {"image": image(n), "model": model(n)}
        w.generation += 1
    w.undo = undo
    return w.run()


@pytest.mark.parametrize("strategy", ["canary", "blue-green"])
def test_three_releases_are_three_revisions(strategy: str) -> None:
    w = world(strategy)
    for n in (1, 2, 3):
        assert release(w, n) is Phase.SUCCEEDED
    revisions = w.status.revisions
    assert [r.number for r in revisions] == [1, 2, 3]
    assert [r.image for r in revisions] == [image(1), image(2), image(3)]
    assert [r.generation for r in revisions] == [1, 2, 3]
    third = revisions[-1]
    assert third.model_uri == model(3)["uri"]
    assert third.model_sha256 == model(3)["sha256"]
    assert third.verification.verified
    assert third.verification.image == image(3)
    assert third.verified_at is not None
    assert third.verified_at < third.succeeded_at
    assert third.driven_by == "mlrollout-cli-test-1"
    assert third.undo_of is None
    assert not third.skipped_analysis


@pytest.mark.parametrize(
    ("limit", "releases", "kept"),
    [
        pytest.param(None, 12, list(range(3, 13)), id="default-10-of-12"),
        pytest.param(10, 12, list(range(3, 13)), id="limit-10-of-12"),
        pytest.param(1, 3, [3], id="limit-1"),
        pytest.param(50, 4, [1, 2, 3, 4], id="under-limit"),
    ],
)
def test_history_is_bounded_by_the_limit(limit: int | None, releases: int, kept: list[int]) -> None:
    w = world(**({} if limit is None else {"revisionHistoryLimit": limit}))
    for n in range(1, releases + 1):
        assert release(w, n) is Phase.SUCCEEDED
    assert [r.number for r in w.status.revisions] == kept
    assert [r.image for r in w.status.revisions] == [image(n) for n in kept]


@pytest.mark.parametrize(
    ("setup", "phase"),
    [
        pytest.param(lambda w: setattr(w, "gates_pass", False), Phase.REFUSED, id="refused"),
        pytest.param(
            lambda w: setattr(w, "judge", lambda step, n: "rollback"),
            Phase.ROLLED_BACK,
            id="rolled-back",
        ),
    ],
)
def test_releases_that_do_not_succeed_are_not_recorded(setup: Any, phase: Phase) -> None:
    w = world()
    assert release(w, 1) is Phase.SUCCEEDED
    setup(w)
    assert release(w, 2) is phase
    assert [r.image for r in w.status.revisions] == [image(1)]


def test_the_revision_is_written_with_the_phase_change_and_only_once() -> None:
    w = world()
    release(w, 1)
    entering = [d for d in w.decisions if d.status.phase is Phase.SUCCEEDED]
    # The very status that first says Succeeded carries the revision (one write: crash-safe).
    assert [r.number for r in entering[0].status.revisions] == [1]
    # Passes after it (settling, scaling the old environment down) add nothing.
    w.run(until=lambda x: x.status.scale_down is None)
    assert [r.number for r in w.status.revisions] == [1]


def test_undo_runs_steps_and_analysis_and_records_what_it_undid() -> None:
    w = world()
    for n in (1, 2, 3):
        release(w, n)
    looks_before = sum(w.looks.values())
    assert release(w, 1, undo=UndoRequest(revision=1)) is Phase.SUCCEEDED
    assert sum(w.looks.values()) > looks_before  # the analysis ran again
    latest = w.status.revisions[-1]
    assert (latest.number, latest.image, latest.undo_of) == (4, image(1), 1)
    assert not latest.skipped_analysis
    assert w.envs[w.status.active_env or "blue"].image == image(1)


@pytest.mark.parametrize("strategy", ["canary", "blue-green"])
def test_undo_with_skip_analysis_goes_to_full_weight_after_gates_and_readiness(
    strategy: str,
) -> None:
    w = world(strategy)
    for n in (1, 2):
        release(w, n)
    w.ready_after = 2
    looks_before = dict(w.looks)
    applied_before = len(w.applied)
    assert release(w, 1, undo=UndoRequest(revision=1, skip_analysis=True)) is Phase.SUCCEEDED
    assert w.looks == looks_before  # no analysis looked at this release
    weights = [s.canary_percent for s in w.applied[applied_before:]]
    assert weights[0] == 100  # no intermediate step
    phases = [d.status.phase for d in w.decisions]
    last = len(phases) - 1 - phases[::-1].index(Phase.VERIFYING)
    assert Phase.PROGRESSING not in phases[last:]
    assert Phase.DEPLOYING in phases[last:]
    latest = w.status.revisions[-1]
    assert (latest.undo_of, latest.skipped_analysis) == (1, True)


def test_undo_with_skip_analysis_never_skips_the_gates() -> None:
    w = world()
    release(w, 1)
    release(w, 2)
    w.gates_pass = False
    assert release(w, 1, undo=UndoRequest(revision=1, skip_analysis=True)) is Phase.REFUSED
    assert w.envs["blue"].image == image(2) or w.envs["green"].image == image(2)
    assert [r.number for r in w.status.revisions] == [1, 2]


@pytest.mark.parametrize("limit", [0, 51, -1])
def test_revision_history_limit_out_of_range_is_a_spec_error(limit: int) -> None:
    raw = rollout_from("canary.yaml")
    raw["spec"]["revisionHistoryLimit"] = limit
    with pytest.raises(SpecError, match="revisionHistoryLimit"):
        load_object(raw, source="rollout.yaml")


def test_a_revision_keeps_the_gate_message_short() -> None:
    w = world()
    release(w, 1)
    entering = next(d for d in w.decisions if d.status.phase is Phase.SUCCEEDED)
    verification = entering.status.verification
    assert verification is not None
    long = verification.model_copy(update={"message": "x" * 5000})
    status = entering.status.model_copy(update={"verification": long, "revisions": []})
    revisions = record_revision(w.observe(), status)
    assert revisions[-1].verification.message == "x" * MESSAGE_LIMIT
