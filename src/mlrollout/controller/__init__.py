"""The controller: pure ``decide()`` per strategy, the effects that apply its actions, the loop.

Top of the stack below ``cli``. ``observation`` and ``actions`` are the values ``decide``
consumes and produces; ``common``, ``canary`` and ``bluegreen`` are its phase machines.
"""

from __future__ import annotations

from mlrollout.controller.decide import decide
from mlrollout.controller.decision import Decision
from mlrollout.controller.observation import (
    AnalysisLook,
    EnvState,
    Observation,
    VerificationOutcome,
)

__all__ = ["AnalysisLook", "Decision", "EnvState", "Observation", "VerificationOutcome", "decide"]
