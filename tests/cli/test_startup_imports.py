"""Start-up guard: the CLI's import path and ``--help``/``--version`` stay free of heavy modules.

Each case runs in a fresh interpreter (imports are process-wide) and lists which of the
heavy modules got imported; scipy, numpy, matplotlib, the Kubernetes client and the
controller load only inside the commands that use them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("scipy", "numpy", "matplotlib", "kubernetes", "mlrollout.controller")

_PROBE = """
import json, sys
{setup}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""

_RUN = "from mlrollout.cli.app import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"

CASES = {
    "import app": "import mlrollout.cli.app",
    "--version": _RUN.format(argv=["--version"]),
    "--help": _RUN.format(argv=["--help"]),
    "status --help": _RUN.format(argv=["status", "--help"]),
    "lint": _RUN.format(argv=["lint", "examples/canary.yaml"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_heavy_modules_stay_out(case: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    probe = _PROBE.format(setup=CASES[case], heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(("flag", "coloured"), [([], True), (["--no-color"], False)])
def test_no_color_turns_styling_off(flag: list[str], coloured: bool) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "FORCE_COLOR": "1"}
    env.pop("NO_COLOR", None)
    done = subprocess.run(
        [sys.executable, "-m", "mlrollout", *flag, "lint", "--bogus"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert ("\x1b[" in done.stdout + done.stderr) is coloured
