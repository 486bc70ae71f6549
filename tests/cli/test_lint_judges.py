"""``lint`` refuses an analysis its judge cannot run, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_cli import ROOT, run


def _write(tmp_path: Path, analysis: dict[str, object], steps: list[object] | None = None) -> Path:
    raw = yaml.safe_load((ROOT / "examples" / "canary.yaml").read_text())
    raw["spec"]["analysis"].update(analysis)
    if steps is not None:
        raw["spec"]["strategy"]["canary"]["steps"] = steps
    path = tmp_path / "rollout.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("analysis", "steps", "path", "words"),
    [
        (
            {"judge": "threshold", "templates": [{"name": "errors"}]},
            None,
            "spec.analysis.judge",
            "errors/error-rate is 'errors'",
        ),
        (
            {"judge": "kayenta", "templates": [{"name": "gpu-health"}]},
            None,
            "spec.analysis.judge",
            "gpu-health/gpu-memory is a 'threshold' check",
        ),
        (
            {"judge": "kayenta", "templates": [{"name": "errors"}]},
            [{"setWeight": 10}, {"analyze": {"maxDuration": "30m"}}],
            "spec.strategy.canary.steps[1].analyze.maxDuration",
            "shorter than the Kayenta schedule (interval × intervals = 1h)",
        ),
    ],
    ids=["threshold-over-errors", "kayenta-over-a-threshold", "kayenta-schedule-too-long"],
)
def test_lint_refuses_what_the_judge_cannot_run(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    analysis: dict[str, object],
    steps: list[object] | None,
    path: str,
    words: str,
) -> None:
    rollout = _write(tmp_path, analysis, steps)
    code, _, err = run(["lint", "-t", str(ROOT / "analyses"), str(rollout)], capsys)
    assert code == 2
    assert f"{rollout}: {path}: " in err
    assert words in err
