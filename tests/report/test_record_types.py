"""The record typed like the status: datetimes and basis points inside, report/v1 on the wire.

``tests/data/report/rolled-back-v1.*`` were written before the record was typed: the record
of ``rolled_back_record(looks=12, metrics=3)`` (string times, some to the second, percent
weights) and its Markdown and HTML (without plots) as they were rendered then.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mlrollout.errors import SpecError
from mlrollout.report import collect_rollout, load_record, render_markdown
from mlrollout.report.html import render_html
from mlrollout.report.record import ReportRecord, StepRecord, TrafficPoint
from mlrollout.report.store import decode_config_map, record_file_name
from mlrollout.spec.status import RolloutStatus, TrafficSplit, TrafficStatus
from report.builders import ROOT, START, example_rollout, rolled_back_record
from report.schema import assert_valid_record
from report.test_cli_report import run

OLD = ROOT / "tests" / "data" / "report" / "rolled-back-v1"


def _old_record() -> ReportRecord:
    return load_record(OLD.with_suffix(".json"))


def _old_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OLD.with_suffix(".json").read_text())
    return document


def test_a_record_written_before_loads_typed() -> None:
    record = _old_record()
    assert record.generated_at == datetime(2026, 11, 30, 3, 12, tzinfo=UTC)
    assert record.traffic[0].at == datetime(2026, 11, 30, 3, 1, tzinfo=UTC)
    assert [p.canary_bp for p in record.traffic] == [2000, 4000, 6000, 8000, 10000, 0]
    assert [s.weight_bp for s in record.steps if s.action == "setWeight"] == [
        2000,
        4000,
        6000,
        8000,
        10000,
    ]
    assert record.steps[1].started_at == START + timedelta(minutes=1)
    assert record.release is not None
    assert record.release.gates is not None
    assert record.release.gates.checked_at == START
    assert record.timeline[-1].time == START + timedelta(minutes=12)
    assert all(p.at.tzinfo is UTC for m in record.metrics for p in m.series)
    assert "generatedAt" in _old_document()  # the fixture really is the old wire form
    assert _old_document()["traffic"][0] == {"at": "2026-11-30T03:01:00Z", "canaryWeight": 20.0}


def test_the_same_run_collected_now_is_the_same_record() -> None:
    assert rolled_back_record(looks=12, metrics=3) == _old_record()


@pytest.mark.parametrize("source", ["old", "collected"])
def test_renderers_show_what_they_showed(source: str) -> None:
    record = _old_record() if source == "old" else rolled_back_record(looks=12, metrics=3)
    assert render_markdown(record) == OLD.with_suffix(".md").read_text()
    assert render_html(record, plots=False) + "\n" == OLD.with_suffix(".html").read_text()


def test_the_wire_keeps_percent_and_writes_rfc3339_z() -> None:
    document = assert_valid_record(_old_record().to_json())
    assert document["generatedAt"] == "2026-11-30T03:12:00.000Z"
    assert document["traffic"][0] == {"at": "2026-11-30T03:01:00.000Z", "canaryWeight": 20.0}
    assert document["steps"][0]["weight"] == 20.0
    assert document["release"]["gates"]["checkedAt"] == "2026-11-30T03:00:00.000Z"
    assert document["metrics"][0]["series"][0]["at"] == "2026-11-30T03:01:00.000Z"


def test_round_trip_through_file_and_configmap(tmp_path: Path) -> None:
    record = rolled_back_record(looks=7)
    text = record.to_json()
    again = ReportRecord.model_validate(json.loads(text))
    assert again == record
    assert again.to_json() == text
    body = {"metadata": {"name": "r"}, "data": {"report.json": _old_record().to_json()}}
    assert decode_config_map(body) == _old_record()
    body = {
        "metadata": {"name": "r"},
        "data": {"report.json": OLD.with_suffix(".json").read_text()},
    }
    assert decode_config_map(body) == _old_record()


def test_an_offset_time_is_held_in_utc() -> None:
    document = _old_document()
    document["generatedAt"] = "2026-11-30T04:12:00.5+01:00"
    record = ReportRecord.model_validate(document)
    assert record.generated_at == datetime(2026, 11, 30, 3, 12, 0, 500_000, tzinfo=UTC)
    assert json.loads(record.to_json())["generatedAt"] == "2026-11-30T03:12:00.500Z"


@pytest.mark.parametrize(
    ("where", "value", "path", "says"),
    [
        (("generatedAt",), "2026-11-30T03:12:00", "generatedAt", "timezone"),
        (("generatedAt",), "yesterday", "generatedAt", "datetime"),
        (("timeline", 1, "time"), "2026-11-30T03:04:00", "timeline.1.time", "timezone"),
        (("traffic", 0, "at"), "", "traffic.0.at", "datetime"),
        (("run", "start"), "30/11/2026", "run.start", "datetime"),
        (("traffic", 1, "canaryWeight"), 150, "traffic.1", "canaryWeight must be a percentage"),
        (("traffic", 1, "canaryWeight"), True, "traffic.1", "canaryWeight must be a percentage"),
        (("steps", 0, "weight"), "20", "steps.0", "weight must be a percentage"),
    ],
    ids=[
        "naive",
        "malformed",
        "naive-timeline",
        "empty-at",
        "not-rfc3339",
        "weight-over-100",
        "weight-bool",
        "weight-string",
    ],
)
def test_a_bad_time_or_weight_names_the_field(
    tmp_path: Path, where: tuple[str | int, ...], value: object, path: str, says: str
) -> None:
    document = _old_document()
    document["run"]["start"] = "2026-11-30T02:00:00Z"
    target: Any = document
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    file = tmp_path / "report-bad.json"
    file.write_text(json.dumps(document))
    with pytest.raises(SpecError) as info:
        load_record(file)
    message = str(info.value)
    assert f"{file}: {path}: not a report record" in message
    assert says in message
    assert "\n" not in message


def test_a_naive_datetime_is_refused_in_the_model_too() -> None:
    with pytest.raises(ValidationError) as info:
        TrafficPoint(at=datetime(2026, 11, 30, 3, 0), canary_bp=100)
    assert info.value.errors()[0]["loc"] == ("at",)


@given(bp=st.integers(min_value=0, max_value=10_000))
def test_basis_points_round_trip_through_the_wire_percent(bp: int) -> None:
    point = TrafficPoint(at=START, canary_bp=bp)
    step = StepRecord(index=0, action="setWeight", weight_bp=bp)
    wire_point = json.loads(point.model_dump_json(by_alias=True))
    wire_step = json.loads(step.model_dump_json(by_alias=True, exclude_none=True))
    assert wire_point["canaryWeight"] == bp / 100 == wire_step["weight"]
    assert TrafficPoint.model_validate(wire_point) == point
    assert StepRecord.model_validate(wire_step) == step
    assert point.model_dump()["canary_bp"] == bp  # Python names keep the basis points


@given(bp=st.integers(min_value=0, max_value=10_000))
def test_a_percent_as_written_before_reads_back_exactly(bp: int) -> None:
    """Earlier versions wrote the percent as a float (``canary_percent``, ``setWeight``)."""
    for written in (bp / 100, float(f"{bp / 100:.2f}"), bp * 0.01):
        point = TrafficPoint.model_validate({"at": "2026-11-30T03:00:00Z", "canaryWeight": written})
        assert point.canary_bp == bp, written


@pytest.mark.parametrize("bp", [1, 50, 3333, 9999, 10_000], ids=lambda b: f"bp{b}")
def test_collect_carries_the_status_basis_points(bp: int) -> None:
    status = RolloutStatus(
        traffic=TrafficStatus(
            applied=TrafficSplit(stable_env="blue", canary_env="green", canary_bp=bp)
        )
    )
    now = datetime(2026, 11, 30, 5, 0, 0, 123_456, tzinfo=timezone(timedelta(hours=2)))
    record = collect_rollout(None, rollout=example_rollout(), status=status, generation=1, now=now)
    [point] = record.traffic
    assert point.canary_bp == bp
    assert point.at == record.generated_at == datetime(2026, 11, 30, 3, 0, 0, 123_000, tzinfo=UTC)


def test_an_analysis_file_is_named_by_its_time_to_the_second() -> None:
    record = _old_record().model_copy(
        update={
            "run": _old_record().run.model_copy(update={"name": ""}),
            "generated_at": datetime(2026, 11, 30, 3, 12, 7, 250_000, tzinfo=UTC),
        }
    )
    assert record_file_name(record) == "report-analysis-2026-11-30T031207Z.json"


def test_report_command_reads_an_old_record_and_names_a_naive_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["report", str(OLD.with_suffix(".json")), "--format", "md"], capsys)
    assert code == 0
    assert out.rstrip("\n") == OLD.with_suffix(".md").read_text().rstrip("\n")
    document = _old_document()
    document["timeline"][0]["time"] = "2026-11-30T03:01:00"
    path = tmp_path / "report-naive.json"
    path.write_text(json.dumps(document))
    code, _, err = run(["report", str(path)], capsys)
    assert code == 2
    assert f"{path}: timeline.0.time:" in err
    assert len(err.strip().splitlines()) == 1
