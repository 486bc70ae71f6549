"""``mlrollout report FILE|DIR`` and ``--report`` on ``promote`` and ``analyze``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlrollout.cli.app import main
from mlrollout.report import write_record
from report.builders import rolled_back_record
from report.schema import assert_valid_record


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (0 if code is None else code if isinstance(code, int) else 1), out, err


@pytest.mark.parametrize(
    ("args", "marker"),
    [
        (["--format", "md"], "## ❌ ml-prod/fraud-scorer: **rolled-back**"),
        ([], "| metric | verdict |"),
        (["--format", "json"], '"schema": "mlrollout.io/report/v1"'),
        pytest.param(
            ["--format", "html"], "<!DOCTYPE html>", marks=pytest.mark.slow, id="html"
        ),  # renders every plot: seconds
    ],
    ids=["md", "default-md", "json", "html"],
)
def test_report_renders_a_directory_and_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], marker: str
) -> None:
    path = write_record(tmp_path / "reports", rolled_back_record(looks=5))
    for target in (tmp_path / "reports", path):
        code, out, err = run(["report", str(target), *args], capsys)
        assert (code, err) == (0, "")
        assert marker in out


@pytest.mark.slow
def test_output_file_format_follows_its_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_record(tmp_path, rolled_back_record(looks=5))
    for name, marker in (("r.html", "<!DOCTYPE html>"), ("r.md", "## "), ("r.json", '"kind"')):
        code, _, _ = run(["report", str(path), "-o", str(tmp_path / name)], capsys)
        assert code == 0
        assert (tmp_path / name).read_text().startswith(marker) or marker in (
            tmp_path / name
        ).read_text()
    assert_valid_record((tmp_path / "r.json").read_text())


@pytest.mark.parametrize(
    "argv",
    [
        ["promote", "examples/canary.yaml", "--report", "out.pdf"],
        ["promote", "examples/canary.yaml", "--report", "no-such-dir/out.html"],
        [
            "analyze",
            "-T",
            "latency",
            "--baseline",
            "environment=blue",
            "--canary",
            "environment=green",
            "--prometheus",
            "http://127.0.0.1:9",
            "--report",
            "out.txt",
        ],
    ],
    ids=["promote-suffix", "promote-missing-dir", "analyze-suffix"],
)
def test_report_file_must_be_html_or_md(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent-kubeconfig"))
    code, _, err = run(argv, capsys)
    assert code == 2
    assert "--report" in err
    assert len(err.strip().splitlines()) == 1


def test_a_non_record_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    code, _, err = run(["report", str(path)], capsys)
    assert code == 2
    assert str(path) in err


def test_cli_start_up_does_not_import_matplotlib_or_jinja2() -> None:
    code = (
        "import sys; from mlrollout.cli.app import app; "
        "print(sorted(m for m in ('matplotlib', 'jinja2') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
