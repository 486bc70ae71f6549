"""The local state directory behaves as the API server does for the controller."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mlrollout.errors import ConflictError, NotFoundError, SpecError
from mlrollout.local.modelcard import ModelCard, load_model_card, resolve_model_path
from mlrollout.local.regressions import Regressions
from mlrollout.local.scenarios import build_demo_rollout, write_demo_releases
from mlrollout.local.statedir import DriverLock, EnvRecord, StateDir
from mlrollout.spec.status import Intent, Phase


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    return StateDir(tmp_path / "state")


def _rollout(tmp_path: Path) -> dict:
    bad, _ = write_demo_releases(tmp_path / "models", "errors")
    return build_demo_rollout(bad)


def test_generation_grows_on_spec_changes_only(state: StateDir, tmp_path: Path) -> None:
    obj = _rollout(tmp_path)
    first = state.apply(obj)
    assert (first.generation, first.resource_version) == (1, "1")
    assert state.apply(copy.deepcopy(obj)).resource_version == "1"  # unchanged: no write
    obj["spec"]["strategy"]["canary"]["steps"][0]["setWeight"] = 25
    second = state.apply(obj)
    assert second.generation == 2
    assert int(second.resource_version) > int(first.resource_version)
    state.request("demo", "fraud-scorer", Intent.ABORT)
    assert state.read("demo", "fraud-scorer").generation == 2  # intents are metadata


def test_a_stale_status_write_conflicts(state: StateDir, tmp_path: Path) -> None:
    stored = state.apply(_rollout(tmp_path))
    written = state.write_status(stored, stored.status.model_copy(update={"phase": Phase.PENDING}))
    with pytest.raises(ConflictError):
        state.write_status(stored, stored.status)
    assert state.read("demo", "fraud-scorer").resource_version == written.resource_version


def test_missing_rollouts_and_environment_records(state: StateDir) -> None:
    with pytest.raises(NotFoundError):
        state.read("demo", "nope")
    assert state.read_envs("demo", "nope") == {}
    record = EnvRecord("r/x@sha256:" + "a" * 64, "file:///m.json", "a" * 64, 1)
    state.write_envs("demo", "nope", {"blue": record})
    assert state.read_envs("demo", "nope") == {"blue": record}


def test_one_driver_at_a_time(state: StateDir) -> None:
    with DriverLock(state), pytest.raises(SpecError, match="another mlrollout process"):
        DriverLock(state).__enter__()
    with DriverLock(state):  # released
        pass


def test_a_state_directory_that_cannot_be_written_is_bad_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SpecError, match="not writable") as info:
        StateDir(blocker / "state")
    assert info.value.path == "--state-dir"


def test_model_cards_round_trip_and_bad_ones_are_refused(tmp_path: Path) -> None:
    card = ModelCard(seed=5, regressions=Regressions(error_rate=0.1, latency_factor=2))
    path = tmp_path / "m.json"
    card.write(path)
    assert load_model_card(path) == card
    for text in ('{"kind": "Other"}', "[]", '{"kind": "LocalModel", "seed": -1}', "{"):
        path.write_text(text)
        with pytest.raises(ValueError, match=str(path)):
            load_model_card(path)
    assert resolve_model_path("local://models/a.json", base=tmp_path) == tmp_path / "models/a.json"
    assert resolve_model_path("file:///x/a.json", base=tmp_path) == Path("/x/a.json")
    for uri in ("s3://bucket/a", "local://../a.json", "file://host/a"):
        with pytest.raises(ValueError, match="local"):
            resolve_model_path(uri, base=tmp_path)
