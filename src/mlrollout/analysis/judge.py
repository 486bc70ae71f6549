"""The ``Judge`` port: what every judge offers the code that feeds it windows.

Part of ``analysis``. The sequential judge, the Kayenta-compatible and the Flagger-style
threshold judge all take one window per metric per look and answer a ``Look``; their state
round-trips through plain JSON so a restarted controller resumes the same evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from mlrollout.analysis.observations import Window
from mlrollout.analysis.verdicts import Look

__all__ = ["Judge"]


class Judge(Protocol):
    """Folds windows into evidence and decides; a final look is returned from then on."""

    def observe(self, windows: Mapping[str, Window], *, elapsed_s: float) -> Look:
        """Fold in one window per metric (missing = empty) and decide at ``elapsed_s``."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able state."""
        ...

    def reopen(self) -> None:
        """Forget a final look, so the next step decides afresh on the evidence carried."""
        ...

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore state written by :meth:`to_dict` into a judge built with the same inputs."""
        ...
