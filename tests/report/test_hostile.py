"""Names and label values from the spec, Prometheus or a record file cannot inject markup."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from mlrollout.report import ReportRecord, render_markdown
from mlrollout.report.html import render_html
from mlrollout.report.plots import _figure, _svg
from mlrollout.report.record import Finding, FindingKind, GateRecord, TimelineEntry
from report.builders import START, rolled_back_record

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "</svg><script>alert(3)</script>",
    "javascript:alert(4)",
    "{{ 7*7 }}{% raw %}",
    "a|b`c`[x](https://evil.example/)",
    "<style>body{background:url(https://evil.example/a.png)}</style>",
]


def _hostile_record(text: str) -> ReportRecord:
    record = rolled_back_record(looks=6, names=[f"{text}/m{i}" for i in range(3)])
    metrics = [
        m.model_copy(update={"reason": text, "unit": text, "kind": text}) for m in record.metrics
    ]
    release = record.release
    assert release is not None
    return record.model_copy(
        update={
            "metrics": metrics,
            "run": record.run.model_copy(
                update={"name": text, "namespace": text, "canary": {text: text}}
            ),
            "release": release.model_copy(
                update={
                    "image": text,
                    "model_uri": text,
                    "gates": GateRecord(verified=False, reason_code=text, message=text),
                }
            ),
            "timeline": [
                TimelineEntry(time=START, phase=text, action=text, reason=text, step=1),
            ],
            "findings": [Finding(kind=FindingKind.NO_DATA, metric=text, message=text)],
            "decision": record.decision.model_copy(
                update={
                    "reason": text,
                    "analysis_reason": text,
                    "next_steps": [text, f"run `{text}`"],
                }
            ),
            "reproduce": [text],
            "build": text,
        }
    )


class _Markup(HTMLParser):
    """Every element and attribute the browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.css: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(k, v or "") for k, v in attrs]

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1] == "style":
            self.css.append(data)


def assert_inert(page: str) -> None:
    """No script, no event handler, no link or source leaving the page."""
    parser = _Markup()
    parser.feed(page)
    assert "script" not in parser.tags
    assert "img" not in parser.tags
    assert "iframe" not in parser.tags
    assert not [k for k, _ in parser.attrs if k.startswith("on")]
    for key, value in parser.attrs:
        if key in ("src", "href", "xlink:href", "action", "srcset"):
            assert value.startswith(("#", "data:")), (key, value)
    css = "".join(parser.css)
    assert "url(" not in css
    assert "@import" not in css
    assert not [v for k, v in parser.attrs if k == "style" and "url(" in v]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_html_escapes_every_value(text: str) -> None:
    page = render_html(_hostile_record(text), plots=False)
    assert_inert(page)
    if "<" in text:
        assert text not in page
        assert text.replace("<", "&lt;").replace(">", "&gt;")[:12] in page.replace("&#34;", '"')


def test_html_with_plots_is_inert_with_hostile_values() -> None:
    page = render_html(_hostile_record(HOSTILE[2]))
    assert page.count("<svg") >= 4
    assert_inert(page)


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_matplotlib_escapes_text_in_svg(text: str) -> None:
    figure = _figure()
    axes = figure.add_subplot()
    axes.set_title(text)
    axes.plot([0, 1], [0, 1], label=text)
    axes.legend()
    svg = _svg(figure)
    parser = _Markup()
    parser.feed(svg)
    assert "script" not in parser.tags
    assert "img" not in parser.tags
    assert not [k for k, _ in parser.attrs if k.startswith("on")]
    assert svg.startswith("<svg")
    assert "<!DOCTYPE" not in svg
    assert "http://www.w3.org/Graphics" not in svg


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_markdown_escapes_every_value(text: str) -> None:
    markdown = render_markdown(_hostile_record(text))
    outside_code = markdown.split("```sh")[0]
    assert "<script" not in outside_code
    assert "<img" not in outside_code
    assert "](https://evil" not in outside_code
    rows = [line for line in outside_code.splitlines() if line.startswith("| ")]
    assert rows
    assert {row.count("|") for row in rows} == {7}
