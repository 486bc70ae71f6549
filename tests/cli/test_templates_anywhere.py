"""The shipped AnalysisTemplates are found from any directory when ``--templates`` is absent."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from mlrollout.cli.app import main
from mlrollout.cli.templates import default_template_dirs, packaged_templates

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_library_is_the_repository_library() -> None:
    shipped = packaged_templates()
    names = sorted(p.name for p in (ROOT / "analyses").glob("*.yaml"))
    assert names
    assert sorted(p.name for p in shipped.glob("*.yaml")) == names
    assert all(filecmp.cmp(ROOT / "analyses" / n, shipped / n, shallow=False) for n in names)


def test_defaults_prefer_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_template_dirs() == [packaged_templates()]
    (tmp_path / "analyses").mkdir()
    assert default_template_dirs() == [Path("analyses")]
    assert default_template_dirs([tmp_path]) == [tmp_path]


@pytest.mark.parametrize("command", [["lint"], ["plan", "--rps", "50"]], ids=["lint", "plan"])
def test_commands_work_outside_the_repository(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main([command[0], str(ROOT / "examples" / "canary.yaml"), *command[1:]])
    out, err = capsys.readouterr()
    assert (info.value.code, err) == (0, "")
    assert out
