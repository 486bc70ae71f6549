"""The pure decision core: ``decide(observation) -> Decision``, no I/O, no clock, no logging.

Below ``controller`` (the runtime that observes and applies). ``observation`` and
``actions`` are the values ``decide`` consumes and produces; ``decision`` is its result and
the status helpers; ``phases`` holds the transitions both strategies share; ``canary`` and
``bluegreen`` are the per-strategy phase machines; ``confirmations`` says which gating
webhooks are due.
"""

from __future__ import annotations

from mlrollout.core.decide import decide
from mlrollout.core.decision import Decision
from mlrollout.core.observation import (
    AnalysisLook,
    EnvState,
    Observation,
    VerificationOutcome,
)

__all__ = ["AnalysisLook", "Decision", "EnvState", "Observation", "VerificationOutcome", "decide"]
