"""A report record as Markdown: what a CI job posts as a comment or a step summary.

Part of the ``report`` layer. The decision comes first, then one table of metrics (effect,
interval, verdict), then what to do next, findings, gates and the commands to reproduce.
Every value from the spec or from Prometheus goes through ``cell`` or ``inline``: pipes,
backticks, angle brackets and newlines cannot break the table or inject HTML when a
Markdown renderer (GitHub) turns it into a page. Bounded: long lists are cut with a note.
"""

from __future__ import annotations

import html
import re

from mlrollout.report.record import MetricReport, Outcome, ReportRecord

__all__ = ["MAX_MARKDOWN", "cell", "format_number", "render_markdown"]

MAX_MARKDOWN = 65_000
_ICON = {
    Outcome.PROMOTED: "✅",
    Outcome.PASS: "✅",
    Outcome.ROLLED_BACK: "❌",
    Outcome.FAIL: "❌",
    Outcome.ABORTED: "❌",
    Outcome.FAILED: "❌",
    Outcome.REFUSED: "⛔",
}
_COMMAND = re.compile(r"[\w \-./=:@,'\"]+")
_VERDICT_ORDER = {"Failed": 0, "Error": 1, "Inconclusive": 2, "Running": 3, "Successful": 4}


def cell(value: object, *, limit: int = 300) -> str:
    """Text safe in a Markdown table cell: HTML-escaped, no pipes, backticks or newlines."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    escaped = html.escape(text, quote=True)
    for raw, safe in (("|", "&#124;"), ("`", "&#96;"), ("[", "&#91;"), ("]", "&#93;")):
        escaped = escaped.replace(raw, safe)
    return escaped


def _code(command: str) -> str:
    """A command in a fenced block (fences in it cannot close the block early)."""
    return command.replace("```", "'''")


def format_number(value: float | None) -> str:
    """Three significant digits, '–' when absent."""
    return "–" if value is None else f"{value:.3g}"


def _interval(m: MetricReport) -> str:
    if m.lower is None and m.upper is None:
        return "–"
    return f"[{format_number(m.lower)}, {format_number(m.upper)}]"


def _evidence(m: MetricReport) -> str:
    parts = []
    if m.e_rollback is not None and m.rollback_at is not None:
        parts.append(f"rollback {m.e_rollback:.3g} / {m.rollback_at:.3g}")
    if m.e_promote is not None and m.promote_at is not None:
        parts.append(f"promote {m.e_promote:.3g} / {m.promote_at:.3g}")
    return "; ".join(parts) or "–"


def _title(record: ReportRecord) -> str:
    run = record.run
    if run.name:
        return f"{cell(run.namespace)}/{cell(run.name)}"
    return f"{cell(_selector(run.canary))} vs {cell(_selector(run.baseline))}"


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def render_markdown(record: ReportRecord, *, max_metrics: int = 64) -> str:
    """The Markdown summary (under ``MAX_MARKDOWN`` characters)."""
    decision = record.decision
    icon = _ICON.get(decision.outcome, "⏸️")
    lines = [f"## {icon} {_title(record)}: **{decision.outcome.value}**", ""]
    if decision.reason:
        lines += [cell(decision.reason, limit=600), ""]
    if decision.analysis_reason and decision.analysis_reason != decision.reason:
        lines += [f"Analysis: {cell(decision.analysis_reason, limit=600)}", ""]
    if record.release is not None:
        lines += [
            f"Release `{cell(record.release.image)}`, model `{cell(record.release.model_sha256)}`",
            "",
        ]
    metrics = sorted(record.metrics, key=lambda m: _VERDICT_ORDER.get(m.verdict.value, 5))
    if metrics:
        lines += [
            "| metric | verdict | effect | interval | evidence (e / threshold) | reason |",
            "|---|---|---|---|---|---|",
        ]
        for m in metrics[:max_metrics]:
            verdict = f"**{m.verdict.value}**" if m.verdict.value == "Failed" else m.verdict.value
            if m.dry_run:
                verdict += " (dry run, never decides)"
            lines.append(
                f"| {cell(m.name)} | {verdict} "
                f"| {format_number(m.estimate)} | {_interval(m)} | {_evidence(m)} "
                f"| {cell(m.reason, limit=200)} |"
            )
        if len(metrics) > max_metrics:
            lines.append(f"\n{len(metrics) - max_metrics} more metrics in the full report.")
        lines.append("")
    if decision.next_steps:
        lines += ["### What to do next", ""]
        lines += [f"- {_steps_text(s)}" for s in decision.next_steps]
        lines.append("")
    lines += _findings(record)
    lines += _gates(record)
    if record.reproduce:
        lines += ["### Reproduce", "", "```sh", *(_code(c) for c in record.reproduce), "```", ""]
    text = "\n".join(lines)
    if len(text) > MAX_MARKDOWN and max_metrics > 8:
        return render_markdown(record, max_metrics=max_metrics // 2)
    return text[:MAX_MARKDOWN]


def _steps_text(step: str) -> str:
    """A next-step sentence: escaped; a command in backticks stays a code span when plain."""
    out = []
    for i, piece in enumerate(step.split("`")):
        if i % 2 and _COMMAND.fullmatch(piece):
            out.append(f"`{piece}`")
        else:
            out.append(_prose(piece))
    return "".join(out)[:1000]


def _prose(text: str) -> str:
    """Escaped running text (spaces kept, newlines folded)."""
    escaped = html.escape(text.replace("\n", " ").replace("\r", " "), quote=True)
    for raw, safe in (("|", "&#124;"), ("`", "&#96;"), ("[", "&#91;"), ("]", "&#93;")):
        escaped = escaped.replace(raw, safe)
    return escaped


def _findings(record: ReportRecord) -> list[str]:
    if not record.findings:
        return []
    lines = ["### Data quality", ""]
    for f in record.findings[:20]:
        subject = f"{cell(f.metric)}: " if f.metric else ""
        lines.append(f"- {f.kind.value}: {subject}{cell(f.message)}")
    if len(record.findings) > 20:
        lines.append(f"- and {len(record.findings) - 20} more")
    return [*lines, ""]


def _gates(record: ReportRecord) -> list[str]:
    gates = record.release.gates if record.release else None
    if gates is None:
        return []
    verdict = "verified" if gates.verified else f"refused ({cell(gates.reason_code or '')})"
    return ["### Gates", "", f"{verdict}: {cell(gates.message)}", ""]
