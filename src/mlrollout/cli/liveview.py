"""A live view of a rollout a person can follow: step, weight and per-metric evidence.

Part of the ``cli`` layer (``demo`` and ``promote`` on the local platform use it). Each
metric shows its verdict, the estimate of canary against baseline with its confidence
interval, and the evidence so far for rolling back (``rb``) and for promoting (``ok``): the
judge acts when one reaches its threshold. On a terminal a block (a status line and a line
per metric) is redrawn in place after every pass, and a permanent line is printed whenever
the phase changes; elsewhere (a pipe, a CI log) a plain line is printed each time what it
shows changes. Colour marks verdicts on a terminal unless ``NO_COLOR``
(``--no-color``) is set.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from typing import TextIO

from mlrollout.cli.styling import colour_allowed
from mlrollout.kube.rollouts import StoredRollout
from mlrollout.spec.analysis import MetricVerdictRecord

__all__ = ["LiveView", "describe_metric", "describe_rollout"]

_COLOURS = {
    "Successful": "\x1b[32m",
    "Succeeded": "\x1b[32m",
    "Failed": "\x1b[31m",
    "RolledBack": "\x1b[31m",
    "RollingBack": "\x1b[31m",
    "Error": "\x1b[33m",
    "Inconclusive": "\x1b[33m",
    "Paused": "\x1b[33m",
}
_RESET = "\x1b[0m"


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:.3g}"


def describe_metric(metric: MetricVerdictRecord, paint: bool = False) -> str:
    """``name verdict estimate [lower, upper] rb=<e for rollback> ok=<e for promotion>``."""
    name = metric.name.rsplit("/", 1)[-1]
    parts = [name, _paint(metric.verdict.value, paint)]
    if metric.estimate is not None:
        parts.append(
            f"{_number(metric.estimate)} [{_number(metric.lower)}, {_number(metric.upper)}]"
        )
    if metric.e_rollback is not None or metric.e_promote is not None:
        parts.append(f"rb={_number(metric.e_rollback)} ok={_number(metric.e_promote)}")
    return " ".join(parts)


def describe_rollout(stored: StoredRollout, paint: bool = False) -> str:
    """Phase, step, weight and every metric's latest evidence (this release's), on one line."""
    header, metrics = describe_parts(stored, paint)
    return " | ".join([header, *metrics])


def describe_parts(stored: StoredRollout, paint: bool = False) -> tuple[str, list[str]]:
    """The phase, step, weight and analysis time; and one description per metric."""
    status = stored.status
    rollout = stored.rollout
    parts = [_paint(status.phase.value, paint)]
    canary = rollout.spec.strategy.canary
    if canary is not None and status.current_step is not None:
        parts.append(f"step {min(status.current_step + 1, len(canary.steps))}/{len(canary.steps)}")
    applied = status.traffic.applied
    if applied is not None:
        parts.append(f"{applied.canary_env} {applied.canary_percent:g}%")
    analysis = status.analysis
    release = status.release
    current = (
        release is not None
        and analysis is not None
        and analysis.build == f"{stored.generation}/{release.image}/{release.model_sha256}"
    )
    look = analysis.look if analysis is not None and current else None
    metrics: list[str] = []
    if look is not None and look.metrics:
        parts.append(f"analysed {look.elapsed_seconds:.0f}s")
        metrics = [describe_metric(m, paint) for m in look.metrics]
    return " | ".join(parts), metrics


def _paint(text: str, paint: bool) -> str:
    colour = _COLOURS.get(text)
    return f"{colour}{text}{_RESET}" if paint and colour else text


class LiveView:
    """Progress of rollouts on ``stream``."""

    def __init__(self, stream: TextIO, *, colour: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.colour = self.tty and colour_allowed() if colour is None else colour
        self._last = ""
        self._phase = ""
        self._drawn = 0  # lines of the live block on screen (terminal only)

    def note(self, text: str) -> None:
        """A permanent line."""
        self._clear()
        self.stream.write(f"{datetime.now(UTC):%H:%M:%S} {text}\n")
        self.stream.flush()

    def update(self, stored: StoredRollout, label: str = "") -> None:
        """Show the rollout after a pass."""
        prefix = f"{label}: " if label else ""
        status = stored.status
        if status.phase.value != self._phase:
            self._phase = status.phase.value
            message = f" — {status.message}" if status.message else ""
            self.note(f"{prefix}{_paint(status.phase.value, self.colour)}{message}")
        plain = prefix + describe_rollout(stored)
        if plain == self._last and self._drawn:
            return
        if plain == self._last and not self.tty:
            return
        self._last = plain
        stamp = f"{datetime.now(UTC):%H:%M:%S}"
        if not self.tty:
            self.stream.write(f"{stamp} {plain}\n")
            self.stream.flush()
            return
        header, metrics = describe_parts(stored, self.colour)
        plain_header, plain_metrics = describe_parts(stored)
        width = max(20, shutil.get_terminal_size().columns - 1)
        lines = [
            _fit(f"{stamp} {prefix}{header}", f"{stamp} {prefix}{plain_header}", width),
            *(
                _fit(f"    {m}", f"    {p}", width)
                for m, p in zip(metrics, plain_metrics, strict=True)
            ),
        ]
        self._clear()
        self.stream.write("".join(line + "\n" for line in lines))
        self.stream.flush()
        self._drawn = len(lines)

    def finish(self) -> None:
        """Leave the last live block on screen as it is."""
        self._drawn = 0

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")  # up to the block's start, clear
            self._drawn = 0


def _fit(painted: str, plain: str, width: int) -> str:
    """``painted`` when it fits the terminal, else ``plain`` cut to fit (a wrapped line could
    not be redrawn in place)."""
    return painted if len(plain) <= width else plain[: width - 1] + "…"
