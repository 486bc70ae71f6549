"""``mlrollout analyze --report`` against a real Prometheus: the record, its schema, its plots."""

from __future__ import annotations

from pathlib import Path

import pytest

from metrics.test_analyze_live import ROOT, _scenario
from mlrollout.cli.app import main
from mlrollout.local import Regressions
from mlrollout.report import load_record
from report.schema import assert_valid_record
from report.test_hostile import assert_inert

pytestmark = pytest.mark.prometheus


def test_a_latency_regression_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html, reports = tmp_path / "analysis.html", tmp_path / "reports"
    with _scenario(tmp_path, Regressions(latency_factor=1.6)) as prometheus:
        argv = [
            "analyze",
            *("-T", "latency", "-T", "errors", "--templates", str(ROOT / "analyses")),
            *("--baseline", "environment=blue", "--canary", "environment=green"),
            *("--since", "16s", "--interval", "2s", "--prometheus", prometheus.url),
            *("-o", "md", "--report", str(html), "--report-dir", str(reports)),
        ]
        with pytest.raises(SystemExit) as info:
            main(argv)
    assert info.value.code == 1
    markdown = capsys.readouterr().out
    assert markdown.startswith("## ❌ ")
    assert "**fail**" in markdown
    [stored] = list(reports.glob("report-*.json"))
    assert_valid_record(stored.read_text())
    record = load_record(reports)
    assert record.decision.outcome.value == "fail"
    assert any(name.startswith("latency/") for name in record.decision.failing)
    latency = [m for m in record.metrics if m.distribution and m.distribution.bounds]
    assert latency, "latency buckets of both variants are summed into the record"
    assert all(m.distribution.canary_total > 0 for m in latency if m.distribution)
    assert all(len(m.series) >= 2 for m in record.metrics)
    assert record.reproduce[0].startswith("mlrollout analyze -T latency -T errors --templates ")
    page = html.read_text()
    assert_inert(page)
    assert "FAIL" in page
    assert page.count("<svg") >= 3
