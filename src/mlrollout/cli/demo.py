"""``mlrollout demo``: two releases end to end on the local platform, no cluster needed.

Part of the ``cli`` layer. Starts the local platform in a fresh run directory under the
state directory (the stable environment runs the reference model behind the weighted
proxy, with labelled traffic), then releases a bad model — one regression, chosen by
``--scenario`` — and a good one through the same controller loop and analysis as on
Kubernetes, showing each pass live. Writes one HTML report per release and prints their
paths. Exit 0 when the bad release was rolled back and the good one promoted, 1 when a
release ended otherwise, 3 when one paused (inconclusive), 2 bad input (a port in use, a
state directory that cannot be written), 5 timed out.
"""

from __future__ import annotations

import functools
import sys
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from mlrollout.cli.output import OUTPUT, OutputFormat, print_document

__all__ = ["register"]


class Scenario(StrEnum):
    """The regression the bad release carries."""

    LATENCY = "latency"
    ERRORS = "errors"
    ACCURACY = "accuracy"
    ANOMALY = "anomaly"


def register(app: typer.Typer) -> None:
    """Add ``demo``."""

    @app.command("demo")
    def demo(
        scenario: Scenario = typer.Option(
            Scenario.LATENCY, "--scenario", help="The regression the bad release carries."
        ),
        state_dir: Path | None = typer.Option(
            None,
            "--state-dir",
            help="Local platform state (default $MLROLLOUT_STATE_DIR, else "
            "$XDG_STATE_HOME/mlrollout); the demo runs in a new directory under demo/.",
        ),
        port: int = typer.Option(
            0, "--port", min=0, max=65535, help="Port of the local proxy (default: any free)."
        ),
        rate: float = typer.Option(
            80.0, "--rate", min=5.0, max=500.0, help="Prediction requests per second."
        ),
        timeout: int = typer.Option(
            300, "--timeout", min=30, max=3600, help="Give up after this many seconds (exit 5)."
        ),
        no_color: bool = typer.Option(False, "--no-color", help="No colour (also: NO_COLOR=1)."),
        output: OutputFormat = OUTPUT,
    ) -> None:
        """Release a bad model (rolled back) and a good one (promoted) locally; no cluster."""
        from mlrollout.cli.liveview import LiveView
        from mlrollout.cli.localrun import apply_local, drive_local, warm_up
        from mlrollout.cli.promote import template_library
        from mlrollout.cli.report import ReportFormat, write_report
        from mlrollout.cli.templates import packaged_templates
        from mlrollout.controller.local import LocalPlatform
        from mlrollout.errors import DeadlineError, ExitCode
        from mlrollout.local.labelledload import LoadSettings
        from mlrollout.local.processes import install_signal_handlers
        from mlrollout.local.scenarios import (
            build_demo_rollout,
            build_demo_templates,
            write_demo_releases,
        )
        from mlrollout.local.statedir import default_state_dir

        started = time.monotonic()
        install_signal_handlers()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        root = (state_dir or default_state_dir()) / "demo" / stamp
        view = LiveView(
            sys.stdout if output is OutputFormat.TEXT else sys.stderr,
            colour=False if no_color else None,
        )
        # The shipped templates, whatever ./analyses holds: the demo needs no configuration.
        templates = build_demo_templates(template_library([packaged_templates()]))
        deadline = started + timeout
        results: list[dict[str, Any]] = []
        with LocalPlatform(root, port=port, load=LoadSettings(rate=rate)) as platform:
            bad, good = write_demo_releases(root / "models-src", scenario.value)
            assert platform.proxy is not None
            view.note(
                f"local platform in {root}: proxy {platform.proxy.url}, {rate:g} requests/s, "
                "labels for 80% of predictions (a quarter of them delayed 3s)"
            )
            for release in (bad, good):
                stored = apply_local(platform, build_demo_rollout(release), source="demo")
                if not results:
                    view.note("warming up: the stable environment serves the reference model")
                    warm_up(platform, stored)
                view.note(f"releasing {release.label}; a correct verdict is {release.expected}")
                remaining = deadline - time.monotonic()
                try:
                    final, record = drive_local(
                        platform,
                        stored,
                        templates=templates,
                        base=root,
                        timeout=timedelta(seconds=max(1.0, remaining)),
                        on_pass=functools.partial(view.update, label=release.label),
                    )
                except DeadlineError:
                    view.finish()
                    raise
                view.finish()
                report = None
                if record is not None:
                    report = platform.state.reports / f"{release.card.stem}.html"
                    write_report(record, report, ReportFormat.HTML)
                status = final.status
                results.append(
                    {
                        "release": release.label,
                        "expected": release.expected,
                        "phase": status.phase.value,
                        "message": status.message,
                        "report": str(report) if report else None,
                    }
                )
            load = platform.load
            counts = load.counts if load is not None else None
        elapsed = time.monotonic() - started
        phases = [r["phase"] for r in results]
        code = ExitCode.OK
        if "Paused" in phases:
            code = ExitCode.INCONCLUSIVE
        elif any(r["phase"] != r["expected"] for r in results):
            code = ExitCode.ROLLED_BACK
        if output.machine:
            print_document(
                {
                    "scenario": scenario.value,
                    "stateDir": str(root),
                    "releases": results,
                    "wallSeconds": round(elapsed, 1),
                    "requests": dict(counts.statuses) if counts else {},
                    "labels": counts.feedback if counts else 0,
                    "exitCode": code,
                },
                output,
            )
        else:
            for r in results:
                typer.echo(f"report ({r['release']}, {r['phase']}): {r['report']}")
            typer.echo(f"demo finished in {elapsed:.0f}s")
        raise typer.Exit(code)
