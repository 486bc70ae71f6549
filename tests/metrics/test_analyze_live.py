"""``mlrollout analyze`` against a real Prometheus scraping two live reference model servers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlrollout.cli.app import main
from mlrollout.local import LoadPlan, ModelServer, Regressions, ServerConfig, send_load
from support.prometheus import PrometheusServer, start_prometheus

pytestmark = pytest.mark.prometheus

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def _scenario(tmp_path: Path, green: Regressions) -> Iterator[PrometheusServer]:
    servers = [
        ModelServer(ServerConfig(environment="blue", seed=1)).start(),
        ModelServer(ServerConfig(environment="green", seed=2, regressions=green)).start(),
    ]
    prometheus = start_prometheus(
        tmp_path, targets=[s.url.removeprefix("http://") for s in servers]
    )
    try:
        threads = [
            threading.Thread(
                target=send_load,
                args=(
                    LoadPlan(target=s.url, rate=40, duration_s=14, seed=i, feedback_fraction=0.5),
                ),
            )
            for i, s in enumerate(servers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        yield prometheus
    finally:
        prometheus.stop()
        for server in servers:
            server.stop()


def _analyze(
    url: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, object]]:
    argv = [
        "analyze",
        "-T",
        "latency",
        "-T",
        "errors",
        "--templates",
        str(ROOT / "analyses"),
        "--baseline",
        "environment=blue",
        "--canary",
        "environment=green",
        "--since",
        "16s",
        "--interval",
        "2s",
        "--prometheus",
        url,
        "-o",
        "json",
        *extra,
    ]
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, _ = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), json.loads(out)


def test_a_latency_regression_fails_and_names_the_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _scenario(tmp_path, Regressions(latency_factor=1.6)) as prometheus:
        code, document = _analyze(prometheus.url, capsys)
        assert code == 1, document
        assert document["result"] == "fail"
        failed = [m["name"] for m in document["metrics"] if m["verdict"] == "Failed"]
        assert any(name.startswith("latency/") for name in failed)
        assert "errors/error-rate" not in failed


def test_an_aa_pair_never_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with _scenario(tmp_path, Regressions()) as prometheus:
        code, document = _analyze(prometheus.url, capsys)
        assert code in (0, 3), document
        assert document["result"] in ("pass", "inconclusive")


def test_a_dry_run_latency_regression_is_reported_failing_and_does_not_decide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _scenario(tmp_path, Regressions(latency_factor=1.6)) as prometheus:
        code, document = _analyze(prometheus.url, capsys, "--dry-run", "latency")
        metrics = document["metrics"]
        assert isinstance(metrics, list)
        failed = [m["name"] for m in metrics if m["verdict"] == "Failed"]
        assert any(name.startswith("latency/") for name in failed), document
        assert all(m["dry_run"] == m["name"].startswith("latency/") for m in metrics)
        assert code in (0, 3), document
        assert document["result"] in ("pass", "inconclusive")
