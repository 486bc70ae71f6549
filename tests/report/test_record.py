"""The report record: published schema in step, bounded series, Markdown size, the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from mlrollout.errors import SpecError
from mlrollout.model.analysis import AnalysisDecision
from mlrollout.report import (
    collect_rollout,
    load_record,
    render_markdown,
    report_schema,
    write_record,
)
from mlrollout.report.advice import find_quality
from mlrollout.report.collect import append_thinned
from mlrollout.report.record import MAX_SERIES, FindingKind, Outcome
from mlrollout.report.store import (
    MAX_CONFIGMAP_BYTES,
    decode_config_map,
    encode_config_map,
    fit_record,
)
from mlrollout.spec import RolloutStatus
from mlrollout.spec.analysis import AnalysisRecord, LookRecord
from report.builders import example_rollout, rolled_back_record
from report.schema import assert_valid_record, published_schema


def test_published_schema_matches_the_models() -> None:
    assert published_schema() == json.loads(json.dumps(report_schema())), (
        "docs/report.schema.json is stale: run "
        "`mlrollout manifests report-schema > docs/report.schema.json`"
    )
    jsonschema.Draft202012Validator.check_schema(published_schema())


def test_rolled_back_record_validates_and_says_why() -> None:
    record = rolled_back_record(looks=40)
    assert_valid_record(record.to_json())
    assert record.decision.outcome is Outcome.ROLLED_BACK
    assert record.decision.failing == ["tmpl-0/latency-tail"]
    assert "tmpl-0/latency-tail" in record.decision.next_steps[0]
    assert any("mlrollout analyze -T latency" in c for c in record.reproduce)
    [latency] = [m for m in record.metrics if m.name == "tmpl-0/latency-tail"]
    assert len(latency.series) == 40
    assert [p.elapsed for p in latency.series] == sorted(p.elapsed for p in latency.series)
    assert {f.kind for f in record.findings} == {FindingKind.ERRORED_WINDOWS}
    assert [s.action for s in record.steps][:2] == ["setWeight", "analyze"]
    assert record.traffic[-1].canary_bp == 0


def test_a_schema_violation_is_caught() -> None:
    document = json.loads(rolled_back_record(looks=3).to_json())
    document["decision"]["outcome"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(published_schema()).validate(document)


@pytest.mark.parametrize("count", [1, 119, 120, 121, 500, 5000], ids=lambda n: f"n{n}")
def test_series_stay_bounded_and_keep_first_and_last(count: int) -> None:
    series: list[int] = []
    for i in range(count):
        series = append_thinned(series, i)
    assert len(series) <= MAX_SERIES
    assert series[0] == 0
    assert series[-1] == count - 1
    assert series == sorted(series)


def test_ten_step_six_metric_markdown_stays_under_65000_characters() -> None:
    record = rolled_back_record(steps=10, metrics=6, looks=300)
    text = render_markdown(record)
    assert len(text) < 65_000
    assert text.startswith("## ❌ ml-prod/fraud-scorer: **rolled-back**")
    table = text.index("| metric | verdict")
    assert text.index("**Failed**") > table
    assert text.index("### What to do next") > table


def test_markdown_stays_bounded_with_the_largest_record() -> None:
    record = rolled_back_record(steps=100, metrics=64, looks=130)
    long_reason = "x" * 4000
    record = record.model_copy(
        update={"metrics": [m.model_copy(update={"reason": long_reason}) for m in record.metrics]}
    )
    assert len(render_markdown(record)) < 65_000


def test_oversized_record_is_summarised_to_fit_a_configmap() -> None:
    record = rolled_back_record(steps=10, metrics=64, looks=130)
    assert len(record.to_json().encode()) > 200_000
    fitted = fit_record(record, limit=200_000)
    assert len(fitted.to_json().encode()) <= 200_000
    assert fitted.findings[0].kind is FindingKind.SUMMARISED
    assert fitted.decision == record.decision
    assert fit_record(record) is record or len(record.to_json()) > MAX_CONFIGMAP_BYTES


def test_configmap_round_trip_is_owned_by_the_rollout() -> None:
    record = rolled_back_record(looks=10)
    owner = {
        "apiVersion": "mlrollout.io/v1alpha1",
        "metadata": {"name": "fraud-scorer", "namespace": "ml-prod", "uid": "u-1"},
    }
    body = encode_config_map(record, namespace="ml-prod", owner=owner)
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert body["metadata"]["name"].startswith("fraud-scorer-report-")
    assert decode_config_map(body) == record


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not a report record"),
        ('{"schema": "mlrollout.io/report/v1"}', "kind"),
        ('{"kind": "rollout", "schema": "other/v9"}', "schema"),
    ],
    ids=["not-json", "missing-fields", "wrong-schema"],
)
def test_a_bad_record_file_is_one_line_naming_it(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "report-x.json"
    path.write_text(content)
    with pytest.raises(SpecError) as info:
        load_record(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_directory_gives_its_newest_record(tmp_path: Path) -> None:
    first = rolled_back_record(looks=3)
    written = write_record(tmp_path, first)
    assert load_record(tmp_path) == first
    assert load_record(written) == first
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SpecError, match="no report"):
        load_record(empty)


def test_new_build_starts_a_new_record() -> None:
    record = rolled_back_record(looks=5)
    rollout = example_rollout()
    fresh = collect_rollout(
        record,
        rollout=rollout,
        status=RolloutStatus(),
        generation=2,
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert fresh.build.startswith("2/")
    assert fresh.metrics == []
    assert fresh.decision.outcome is Outcome.IN_PROGRESS


@pytest.mark.parametrize(
    ("windows", "errored", "empty", "kinds"),
    [
        (10, 0, 0, set()),
        (10, 2, 0, {FindingKind.ERRORED_WINDOWS}),
        (10, 0, 3, {FindingKind.EMPTY_WINDOWS}),
        (0, 0, 4, {FindingKind.EMPTY_WINDOWS, FindingKind.NO_DATA}),
        (0, 5, 1, {FindingKind.ERRORED_WINDOWS, FindingKind.EMPTY_WINDOWS, FindingKind.NO_DATA}),
    ],
    ids=["clean", "errored", "empty", "only-empty", "never-usable"],
)
def test_data_quality_findings(windows: int, errored: int, empty: int, kinds: set[str]) -> None:
    record = rolled_back_record(looks=2, metrics=1)
    [metric] = record.metrics
    changed = metric.model_copy(
        update={"windows": windows, "errored_windows": errored, "empty_windows": empty}
    )
    found = find_quality(record.model_copy(update={"metrics": [changed]}), None)
    assert {f.kind for f in found} == kinds
    total = windows + errored + empty
    assert all(f"of {total} windows" in f.message for f in found if f.kind != FindingKind.NO_DATA)


def test_a_stale_analysis_of_the_previous_build_is_not_reported() -> None:
    record = rolled_back_record(looks=5)
    rollout = example_rollout()
    stale = record  # the previous build's record
    status = RolloutStatus(
        analysis=AnalysisRecord(
            build="1/old@sha256:" + "0" * 64 + "/" + "1" * 64,
            started_at=datetime(2026, 11, 30, tzinfo=UTC),
            step=1,
            step_started_at=datetime(2026, 11, 30, tzinfo=UTC),
            fetched_until=datetime(2026, 11, 30, tzinfo=UTC),
            look=LookRecord(decision=AnalysisDecision.ROLLBACK, reason="old", elapsed_seconds=9),
        )
    )
    fresh = collect_rollout(
        None, rollout=rollout, status=status, generation=2, now=datetime(2026, 12, 1, tzinfo=UTC)
    )
    assert fresh.build.startswith("2/")
    assert fresh.decision.analysis is None
    assert stale.build.startswith("1/")
