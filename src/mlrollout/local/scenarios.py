"""The demo's releases: model cards with and without a regression, and the rollout to run.

Part of the ``local`` sandbox; ``mlrollout demo`` runs these on the local platform. Every
release is a model card (``modelcard``) written to disk and pinned by SHA-256. The stable
environment runs the reference model (5% of requests fail, as real services fail some);
the *bad* release carries one regression, picked by ``scenario``; the *good* one is the
reference model retrained on another seed — the same behaviour, so the analysis must show
it is no worse.

The analysis settings are chosen so the statistics decide in well under a minute each at
the demo's traffic, honestly: 5-second windows, half the traffic on the canary, and
margins wide enough for that many requests (error rate at most 2.5x the baseline's, latency
body at most 20% slower, accuracy at most 10 points lower, no new anomaly sources). The
regressions are far outside those margins (60% slower, 5x the errors, 35% of predictions
flipped, anomalies from 5 sources); the good release is far inside them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrollout.local.modelcard import ModelCard
from mlrollout.local.regressions import Regressions
from mlrollout.spec import AnalysisTemplate

__all__ = [
    "DEMO_METRICS",
    "SCENARIOS",
    "DemoRelease",
    "build_demo_rollout",
    "build_demo_templates",
    "write_demo_releases",
]

BASE = Regressions(error_rate=0.05)
SCENARIOS: dict[str, Regressions] = {
    "latency": Regressions(error_rate=0.05, latency_factor=1.6),
    "errors": Regressions(error_rate=0.25),
    "accuracy": Regressions(error_rate=0.05, accuracy_drop=0.35),
    "anomaly": Regressions(error_rate=0.05, anomaly_rate=0.05, anomaly_sources=5),
}
"""The regression each ``--scenario`` injects into the bad release."""

DEMO_METRICS: dict[str, tuple[str, dict[str, float]]] = {
    "errors": ("error-rate", {"relative": 1.5}),
    "latency": ("latency-body", {"relative": 0.20}),
    "accuracy": ("accuracy", {"points": 10.0}),
    "security-anomalies": ("server-anomalies", {"relative": 0.0}),
}
"""Template -> (the one metric the demo keeps, its margin)."""

NAMESPACE = "demo"
NAME = "fraud-scorer"
STEP_MAX_DURATION = "90s"


@dataclass(frozen=True)
class DemoRelease:
    """One release of the demo: its label, model card file and what should happen."""

    label: str
    card: Path
    sha256: str
    expected: str  # the phase a correct controller ends in

    @property
    def image(self) -> str:
        """An image reference pinned by digest (the card's: no container runs locally)."""
        return f"localhost/mlrollout-demo/{NAME}@sha256:{self.sha256}"


def write_demo_releases(directory: Path, scenario: str) -> tuple[DemoRelease, DemoRelease]:
    """Write the bad and the good model cards into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    bad_card = directory / f"v2-{scenario}-regression.json"
    good_card = directory / "v3.json"
    bad = ModelCard(seed=2, regressions=SCENARIOS[scenario]).write(bad_card)
    good = ModelCard(seed=3, regressions=BASE).write(good_card)
    return (
        DemoRelease(f"v2 ({scenario} regression)", bad_card, bad, "RolledBack"),
        DemoRelease("v3 (good)", good_card, good, "Succeeded"),
    )


def build_demo_templates(library: Mapping[str, AnalysisTemplate]) -> dict[str, AnalysisTemplate]:
    """The shipped templates the demo uses, each reduced to one metric with its demo margin."""
    out = {}
    for name, (keep, margin) in DEMO_METRICS.items():
        doc = library[name].model_dump(mode="json", by_alias=True, exclude_none=True)
        doc = copy.deepcopy(doc)
        doc["spec"]["metrics"] = [
            dict(m, margin=margin) for m in doc["spec"]["metrics"] if m["name"] == keep
        ]
        doc["spec"]["args"] = [
            a
            for a in doc["spec"].get("args", [])
            if any(a["name"] in str(m) for m in doc["spec"]["metrics"])
        ]
        out[name] = AnalysisTemplate.model_validate(doc)
    return out


def build_demo_rollout(release: DemoRelease) -> dict[str, Any]:
    """The demo's ModelRollout releasing ``release``."""
    return {
        "apiVersion": "mlrollout.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "service": NAME,
            "environments": {
                "blue": {"deployment": f"{NAME}-blue"},
                "green": {"deployment": f"{NAME}-green"},
            },
            "release": {
                "image": release.image,
                "model": {"uri": f"file://{release.card.resolve()}", "sha256": release.sha256},
            },
            "strategy": {
                "canary": {
                    "steps": [
                        {"setWeight": 50},
                        {"analyze": {"maxDuration": STEP_MAX_DURATION}},
                    ]
                }
            },
            "analysis": {
                "templates": [{"name": name} for name in DEMO_METRICS],
                "interval": "5s",
                "onInconclusive": "pause",
                "consecutiveErrorLimit": 4,
            },
        },
    }
