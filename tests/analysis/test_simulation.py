"""Simulator, oracle, benchmark summaries and the simulate CLI (small replicate counts)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from mlrollout.analysis.kinds import AnalysisDecision
from mlrollout.bench.benchmark import (
    BenchmarkSetup,
    compute_clopper_pearson,
    compute_summary,
    run_replicates,
)
from mlrollout.bench.comparison import Outcome
from mlrollout.bench.oracle import _llr, decide_oracle
from mlrollout.bench.scenarios import SCENARIOS, Margins, Truth, decide_scenario
from mlrollout.bench.simulator import SimSettings, simulate_run
from mlrollout.bench.suite import render_markdown
from mlrollout.cli.simulate import register
from mlrollout.cli.simulation_setup import compute_setup, load_templates
from mlrollout.errors import SpecError

SHORT = replace(SimSettings(), duration_s=600.0)


def _setup(settings: SimSettings = SHORT) -> BenchmarkSetup:
    return compute_setup(load_templates([]), settings)


def test_simulation_is_deterministic_and_routes_at_the_weight() -> None:
    a = simulate_run(np.random.default_rng(5), SCENARIOS["aa"], SHORT)
    b = simulate_run(np.random.default_rng(5), SCENARIOS["aa"], SHORT)
    assert np.array_equal(a.buckets["canary"], b.buckets["canary"])
    share = a.requests["canary"].sum() / (a.requests["canary"] + a.requests["baseline"]).sum()
    assert share == pytest.approx(0.05, abs=0.01)
    assert np.all(np.diff(a.buckets["baseline"], axis=1) >= 0)  # cumulative buckets
    assert np.all(a.buckets["baseline"][:, -1] <= a.requests["baseline"])


def test_latency_scenario_raises_canary_mean_latency() -> None:
    run = simulate_run(np.random.default_rng(1), SCENARIOS["latency-20pct"], SHORT)
    ratio = (run.sums["canary"].sum() / run.requests["canary"].sum()) / (
        run.sums["baseline"].sum() / run.requests["baseline"].sum()
    )
    assert ratio == pytest.approx(1.2, abs=0.06)


@pytest.mark.parametrize(
    ("name", "truth"),
    [
        ("aa", Truth.GOOD),
        ("aa-restarts-tails", Truth.GOOD),
        ("latency-5pct", Truth.BOUNDARY),
        ("latency-tail", Truth.BAD),
        ("within-margin", Truth.GOOD),
        ("errors-x1.5", Truth.BAD),
        ("anomaly-burst", Truth.BAD),
    ],
)
def test_scenario_truth(name: str, truth: Truth) -> None:
    assert SCENARIOS[name].assess_truth(Margins()) is truth


def test_unknown_scenario_names_the_allowed_values() -> None:
    with pytest.raises(SpecError, match="allowed: aa, latency-5pct"):
        decide_scenario("nope")


def test_oracle_rolls_back_a_clear_regression() -> None:
    run = simulate_run(np.random.default_rng(2), SCENARIOS["latency-20pct"], SHORT)
    result = decide_oracle(
        run, SCENARIOS["latency-20pct"], margins=Margins(), alpha=0.01, beta=0.05
    )
    assert result.decision is AnalysisDecision.ROLLBACK


def test_clopper_pearson_bounds() -> None:
    low, high = compute_clopper_pearson(0, 2000)
    assert low == 0.0
    assert high == pytest.approx(0.001843, abs=1e-5)
    low, high = compute_clopper_pearson(5, 10)
    assert low == pytest.approx(0.187, abs=1e-3)
    assert high == pytest.approx(0.813, abs=1e-3)


def test_summary_fields_and_rates() -> None:
    outcomes = [
        Outcome(AnalysisDecision.ROLLBACK, 60.0, 100.0),
        Outcome(AnalysisDecision.PROMOTE, 120.0, 0.0),
        Outcome(AnalysisDecision.PAUSE, 600.0, 0.0),
        Outcome(AnalysisDecision.ROLLBACK, 90.0, 150.0),
    ]
    summary = compute_summary(
        outcomes, scenario=SCENARIOS["aa"], judge="sequential", seed=3, margins=Margins()
    )
    assert summary["rollback_rate"] == 0.5
    assert summary["inconclusive_rate"] == 0.25
    assert summary["median_decision_s"] == 90.0
    assert summary["median_blast_radius_requests"] == 125.0
    assert len(summary["promote_rate_ci"]) == 2


def test_judges_share_replicates() -> None:
    setup = _setup()
    judges = ["sequential", "kayenta", "threshold", "oracle"]
    first = run_replicates(
        SCENARIOS["latency-20pct"], judges, setup=setup, seed=1, replicates=range(2)
    )
    again = run_replicates(
        SCENARIOS["latency-20pct"], ["sequential"], setup=setup, seed=1, replicates=range(2)
    )
    assert first["sequential"] == again["sequential"]
    assert all(o.decision is AnalysisDecision.ROLLBACK for o in first["sequential"])


def test_markdown_table_has_a_row_per_result() -> None:
    row = compute_summary(
        [Outcome(AnalysisDecision.ROLLBACK, 60.0, 10.0)],
        scenario=SCENARIOS["aa"],
        judge="oracle",
        seed=0,
        margins=Margins(),
    )
    row.update(ratio_to_oracle=1.0, ratio_to_kayenta=None)
    suite = {
        "replicates": 1,
        "seed": 0,
        "results": [row],
        "calibration": {"kayenta_confidence": 0.99, "threshold_looseness": 2.0},
    }
    table = render_markdown(suite)
    assert "| aa | good | oracle | 1.000 |" in table


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Test root."""

    return app


def test_cli_lists_scenarios() -> None:
    result = CliRunner().invoke(_app(), ["simulate", "--list", "--output", "json"])
    assert result.exit_code == 0
    names = set(json.loads(result.output)["scenarios"])
    assert {"aa", "latency-10pct", "errors-x2", "anomaly-burst", "delayed-onset"} <= names


def test_cli_runs_a_small_benchmark_as_json() -> None:
    args = [
        "simulate",
        "--scenario",
        "latency-20pct",
        "--judge",
        "oracle",
        "--replicates",
        "3",
        "--seed",
        "4",
        "--duration",
        "10m",
        "--output",
        "json",
    ]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # Not a terminal: progress is plain lines on stderr, one per finished chunk.
    assert result.stderr.splitlines()[-1].startswith("simulate latency-20pct: 3/3 (")
    assert summary["scenario"] == "latency-20pct"
    assert summary["replicates"] == 3
    for key in (
        "rollback_rate_ci",
        "promote_rate_ci",
        "inconclusive_rate_ci",
        "p90_decision_s",
        "median_blast_radius_requests",
    ):
        assert key in summary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nope"], "--scenario: unknown scenario 'nope'"),
        (["--judge", "magic"], "--judge: unknown value 'magic'; allowed: sequential"),
        (["--canary-weight", "150"], "--canary-weight"),
        (["--duration", "soon"], "--duration"),
        (["--suite", "huge"], "--suite: unknown value 'huge'; allowed: standard"),
        (["--min-duration", "soon"], "--min-duration"),
        (["--margin-errors", "-1"], "--margin-errors"),
    ],
    ids=["scenario", "judge", "weight", "duration", "suite", "min-duration", "margin"],
)
def test_cli_bad_input_is_a_spec_error(args: list[str], message: str) -> None:
    result = CliRunner().invoke(_app(), ["simulate", "--replicates", "1", *args])
    assert isinstance(result.exception, SpecError)
    assert message in str(result.exception)


def test_calibration_finds_the_loosest_knob_with_aa_rollback_at_most_alpha() -> None:
    from mlrollout.bench.suite import compute_calibration

    def fake_collect(scenario, judges, setup, replicates):  # type: ignore[no-untyped-def]
        # A/A rollback falls as the knob loosens: 1% at confidence 99.9%, looseness 3.
        knob = {
            "kayenta": -np.log10(1 - setup.kayenta_confidence),
            "threshold": setup.threshold_looseness,
        }
        out = {}
        for judge in judges:
            rate = 0.01 * 10 ** (3.0 - knob[judge])
            rollbacks = round(min(rate, 1.0) * replicates)
            out[judge] = [Outcome(AnalysisDecision.ROLLBACK, 60.0, 1.0)] * rollbacks + [
                Outcome(AnalysisDecision.PROMOTE, 60.0, 0.0)
            ] * (replicates - rollbacks)
        return out

    tuned = compute_calibration(fake_collect, _setup(), replicates=1000, steps=12)
    assert -np.log10(1 - tuned.kayenta_confidence) == pytest.approx(
        3.0, abs=0.03
    )  # counts are rounded
    assert tuned.threshold_looseness == pytest.approx(3.0, abs=0.03)  # counts are rounded


def test_oracle_never_rolls_back_a_delayed_regression_before_its_onset() -> None:
    scenario = SCENARIOS["delayed-onset"]
    onset_window = int(scenario.onset_s / SHORT.scrape_s)
    settings = replace(SimSettings(), duration_s=1800.0)
    for seed in range(5):
        run = simulate_run(np.random.default_rng(seed), scenario, settings)
        result = decide_oracle(run, scenario, margins=Margins(), alpha=0.01, beta=0.05)
        assert result.decision is AnalysisDecision.ROLLBACK
        assert result.window is not None
        assert result.window >= onset_window


def test_joint_oracle_promotes_only_once_every_gated_metric_is_shown() -> None:
    run = simulate_run(np.random.default_rng(3), SCENARIOS["aa"], replace(SHORT, rps=200.0))
    alone = decide_oracle(run, SCENARIOS["aa"], margins=Margins(), alpha=0.01, beta=0.05)
    joint = decide_oracle(
        run,
        SCENARIOS["aa"],
        margins=Margins(),
        alpha=0.01,
        beta=0.05,
        gated=("latency-body", "errors"),
    )
    assert alone.decision is AnalysisDecision.PROMOTE
    assert alone.window is not None
    assert joint.window is None or joint.window >= alone.window


def test_oracle_filters_pod_noise_it_knows_only_the_variance_of() -> None:
    scenario = SCENARIOS["latency-10pct"]
    quiet = replace(SHORT, rps=200.0, canary_weight=0.25, pod_sd=0.0, pod_ar_sd=0.0)
    run = simulate_run(np.random.default_rng(4), scenario, quiet)
    o, mu0, mu1 = run.oracle, np.log(1.05), np.log(1.10)
    # without pod noise the filter is the plain Gaussian SPRT on the log-latency sums
    plain = (mu1 - mu0) / quiet.sigma**2 * (o["log_sum"] - o["n"] * (mu0 + mu1) / 2)
    llr = _llr(run, scenario=scenario, margins=Margins(), metric="latency-body")
    assert llr == pytest.approx(plain, rel=1e-9, abs=1e-9)
    # with pod noise the same regression takes the oracle longer on average
    noisy = replace(quiet, pod_sd=0.01, pod_ar_sd=0.02)
    times = {}
    for name, settings in (("quiet", quiet), ("noisy", noisy)):
        found = []
        for seed in range(8):
            one = simulate_run(np.random.default_rng(seed), scenario, settings)
            result = decide_oracle(one, scenario, margins=Margins(), alpha=0.01, beta=0.05)
            found.append(settings.windows if result.window is None else result.window)
        times[name] = float(np.mean(found))
    assert times["noisy"] > times["quiet"]


def test_oracle_shares_alpha_between_the_metrics_it_watches() -> None:
    scenario = SCENARIOS["errors-x2"]
    run = simulate_run(np.random.default_rng(5), scenario, replace(SHORT, rps=200.0))
    one = decide_oracle(run, scenario, margins=Margins(), alpha=0.01, beta=0.05, gated=())
    watched = ("latency-body", "errors")  # errors is also the regressed metric: k = 2
    two = decide_oracle(run, scenario, margins=Margins(), alpha=0.02, beta=0.05, gated=watched)
    assert one.decision is AnalysisDecision.ROLLBACK
    assert two == one  # α 0.02 over two metrics is α 0.01 for the regressed one
    three = decide_oracle(run, scenario, margins=Margins(), alpha=0.01, beta=0.05, gated=watched)
    assert three.window is not None
    assert one.window is not None
    assert three.window >= one.window


def test_oracle_watches_the_guards_the_judge_rolls_back_on() -> None:
    setup = _setup()
    # shipped templates: the latency body is the only gate; every other critical metric is a
    # guard the judge still spends α on, so the oracle watches it too
    assert setup.gated == ("latency-body",)
    assert set(setup.guarded) == {"accuracy", "errors", "anomalies", "latency-tail"}
    assert replace(setup, oracle_watches_guards=False).guarded == ()
    scenario = SCENARIOS["latency-10pct"]
    run = simulate_run(np.random.default_rng(6), scenario, replace(SHORT, rps=200.0))
    kwargs = {"margins": Margins(), "beta": 0.05, "gated": setup.gated}
    joint = decide_oracle(run, scenario, alpha=0.01, guarded=setup.guarded, **kwargs)
    # five watched metrics at α/5 each: the regressed one's test is the lone test at α/5
    alone = decide_oracle(run, scenario, alpha=0.002, **kwargs)
    assert joint == alone
    gates_only = decide_oracle(run, scenario, alpha=0.01, **kwargs)
    assert joint.decision is gates_only.decision is AnalysisDecision.ROLLBACK
    assert joint.window is not None
    assert gates_only.window is not None
    assert joint.window >= gates_only.window


def test_a_guard_never_holds_the_oracles_promotion() -> None:
    run = simulate_run(np.random.default_rng(3), SCENARIOS["aa"], replace(SHORT, rps=200.0))
    kwargs = {"margins": Margins(), "alpha": 0.01, "beta": 0.05}
    gate = decide_oracle(run, SCENARIOS["aa"], gated=("latency-body", "errors"), **kwargs)
    guard = decide_oracle(
        run, SCENARIOS["aa"], gated=("latency-body",), guarded=("errors",), **kwargs
    )
    # as a gate, errors cannot be shown within its margin in these ten minutes; as a guard
    # it only takes its share of α: the same as the body alone at α/2
    assert gate.decision is AnalysisDecision.PAUSE
    assert guard.decision is AnalysisDecision.PROMOTE
    alone = decide_oracle(
        run, SCENARIOS["aa"], gated=("latency-body",), **{**kwargs, "alpha": 0.005}
    )
    assert guard == alone
