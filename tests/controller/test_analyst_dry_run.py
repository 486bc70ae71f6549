"""Dry-run metrics through the analyst: measured and judged like the others, reported in
``status.analysis`` with ``dryRun: true``, never deciding; and the spec refuses what cannot
be honoured."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from controller_world import rollout_from
from loop_fakes import FakeClock, MemoryState
from metric_fakes import CountingProvider
from test_analyst import _gated_errors, _run

from mlrollout.analysis.observations import Window
from mlrollout.cli.app import main
from mlrollout.controller.analyst import MetricsAnalyst
from mlrollout.errors import SpecError
from mlrollout.metrics.provider import MetricRequest
from mlrollout.model.analysis import AnalysisDecision, Verdict
from mlrollout.spec import load_object

TEMPLATES = _gated_errors()  # the error rate as a gate, so an equal rate promotes
TRIAL = TEMPLATES["errors"].model_copy(
    update={"metadata": TEMPLATES["errors"].metadata.model_copy(update={"name": "errors-trial"})}
)
LIBRARY = {**TEMPLATES, "errors-trial": TRIAL}


class PerTemplateProvider:
    """Error counts with a canary/baseline ratio per template."""

    def __init__(self, ratios: dict[str, float]) -> None:
        self.providers = {name: CountingProvider(ratio) for name, ratio in ratios.items()}

    def fetch_windows(
        self, request: MetricRequest, *, boundaries: Sequence[datetime]
    ) -> list[Window]:
        return self.providers[request.template].fetch_windows(request, boundaries=boundaries)

    def close(self) -> None:
        """Nothing to release."""


def _rollout(templates: list[dict[str, Any]], **analysis: Any) -> dict[str, Any]:
    raw = rollout_from("canary.yaml")
    raw["spec"]["analysis"]["templates"] = templates
    raw["spec"]["analysis"].update(analysis)
    raw["spec"]["strategy"]["canary"]["steps"] = [{"setWeight": 20}, {"analyze": {}}]
    return raw


def test_a_regressing_dry_run_metric_is_reported_failing_while_the_rollout_promotes() -> None:
    raw = _rollout([{"name": "errors"}, {"name": "errors-trial", "dryRun": True}])
    state, clock = MemoryState(raw), FakeClock()
    provider = PerTemplateProvider({"errors": 1.0, "errors-trial": 3.0})
    analyst = MetricsAnalyst(provider, LIBRARY, now=clock.now)
    look = _run(analyst, state, clock, 1, clock.now())
    assert look.decision is AnalysisDecision.PROMOTE
    metrics = {m.name: m for m in look.record.look.metrics}
    trial = metrics["errors-trial/error-rate"]
    assert (trial.verdict, trial.dry_run) == (Verdict.FAILED, True)
    assert (metrics["errors/error-rate"].verdict, metrics["errors/error-rate"].dry_run) == (
        Verdict.SUCCESSFUL,
        False,
    )
    stored = look.record.model_dump(mode="json", by_alias=True)
    assert [m["dryRun"] for m in stored["look"]["metrics"]] == [False, True]


def test_the_same_template_deciding_rolls_back() -> None:
    raw = _rollout([{"name": "errors"}, {"name": "errors-trial"}])
    state, clock = MemoryState(raw), FakeClock()
    provider = PerTemplateProvider({"errors": 1.0, "errors-trial": 3.0})
    look = _run(MetricsAnalyst(provider, LIBRARY, now=clock.now), state, clock, 1, clock.now())
    assert look.decision is AnalysisDecision.ROLLBACK


@pytest.mark.parametrize(
    ("templates", "analysis", "message"),
    [
        pytest.param(
            [{"name": "errors"}, {"name": "latency", "dryRun": True}],
            {"judge": "kayenta"},
            "dryRun is supported by the sequential judge only",
            id="kayenta",
        ),
        pytest.param(
            [{"name": "errors", "dryRun": True}],
            {},
            "every template is dryRun; at least one must decide",
            id="all-dry-run",
        ),
    ],
)
def test_dry_run_that_cannot_be_honoured_is_a_spec_error(
    templates: list[dict[str, Any]], analysis: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message) as info:
        load_object(_rollout(templates, **analysis), source="rollout.yaml")
    assert "spec.analysis" in str(info.value)


def test_lint_names_the_dry_run_templates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = _rollout([{"name": "errors"}, {"name": "latency", "dryRun": True}])
    path = tmp_path / "rollout.yaml"
    path.write_text(yaml.safe_dump(raw))
    analyses = Path(__file__).resolve().parents[2] / "analyses"
    with pytest.raises(SystemExit) as info:
        main(["lint", str(path), "-t", str(analyses)])
    assert info.value.code in (0, None)
    warnings = [line for line in capsys.readouterr().out.splitlines() if "dryRun" in line]
    assert warnings == [
        f"{path}: warning: spec.analysis.templates[1]: latency is dryRun; its metrics are "
        "measured and reported but never decide"
    ]
