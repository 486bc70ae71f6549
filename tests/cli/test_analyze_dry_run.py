"""``mlrollout analyze --dry-run``: bad input is refused before anything is fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrollout.cli.app import main

ANALYSES = Path(__file__).resolve().parents[2] / "analyses"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(
            ["--dry-run", "gpu-health"], "'gpu-health' is not a chosen template", id="unknown"
        ),
        pytest.param(
            ["--dry-run", "latency", "--dry-run", "errors"],
            "at least one deciding template",
            id="all-dry-run",
        ),
        pytest.param(
            ["--dry-run", "latency", "--judge", "kayenta"], "--judge sequential", id="kayenta"
        ),
    ],
)
def test_dry_run_that_cannot_be_honoured_exits_2(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "analyze",
        "-T",
        "latency",
        "-T",
        "errors",
        "--templates",
        str(ANALYSES),
        "--baseline",
        "environment=blue",
        "--canary",
        "environment=green",
        "--prometheus",
        "http://127.0.0.1:9",  # never contacted: refused before any query
        *extra,
    ]
    with pytest.raises(SystemExit) as info:
        main(argv)
    _, err = capsys.readouterr()
    assert info.value.code == 2
    assert "--dry-run" in err
    assert message in err
