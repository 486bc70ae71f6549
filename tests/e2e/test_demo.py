"""``mlrollout demo`` and ``promote`` on the local platform, run as a user runs them.

Real processes throughout: the CLI as a subprocess, model servers as its children, the
weighted proxy, labelled load and the same controller loop as on Kubernetes. After each
run no process started for it is left (every model server's command line names the state
directory, so a leftover is found by scanning ``/proc``). Prints the demo's wall time.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("MLROLLOUT_STATE_DIR", None)
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from mlrollout.cli.app import main; main()", *args]


# Ctrl-C as a terminal delivers it. A process started in the background by a
# non-interactive shell (as `.ci/pytest-shards` starts pytest) inherits SIGINT ignored, and
# Python then leaves it ignored; a terminal's foreground job gets KeyboardInterrupt.
_FOREGROUND_CLI = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from mlrollout.cli.app import main; main()"
)


def _leftovers(marker: Path) -> list[str]:
    """Command lines of live processes that mention ``marker`` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(marker) in command and state != "Z":
            found.append(f"{entry.name}: {command}")
    return found


def _no_leftovers(marker: Path, *, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while _leftovers(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _leftovers(marker), _leftovers(marker)


def test_the_demo_rolls_back_the_bad_release_and_promotes_the_good_one(tmp_path: Path) -> None:
    state = tmp_path / "state"
    started = time.monotonic()
    run = subprocess.run(
        _cli("demo", "--state-dir", str(state), "-o", "json", "--scenario", "errors"),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=400,
        check=False,
    )
    wall = time.monotonic() - started
    print(f"demo wall time: {wall:.1f}s")
    assert run.returncode == 0, run.stderr[-3000:]
    document = json.loads(run.stdout)
    bad, good = document["releases"]
    assert bad["phase"] == "RolledBack", bad
    assert good["phase"] == "Succeeded", good
    for release in (bad, good):
        report = Path(release["report"])
        assert report.is_file()
        assert "<html" in report.read_text(encoding="utf-8")[:2000].lower()
    assert document["requests"].get("200", 0) > 1000
    assert document["labels"] > 500
    assert "Progressing" in run.stderr  # the live view (on stderr under -o json)
    _no_leftovers(state)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_stops_the_demo_and_every_model_server(tmp_path: Path, signum: int) -> None:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-c", _FOREGROUND_CLI, "demo", "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    assert process.stdout is not None
    with process:  # a failed check below must not leave the demo running into later tests
        try:
            seen = []
            for line in process.stdout:  # wait for the canary to be serving
                seen.append(line)
                if "green 50%" in line:
                    break
            assert _leftovers(state), "the model servers should be running now: " + "".join(seen)
            process.send_signal(signum)
            rest, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode != 0
    assert "Traceback" not in rest
    _no_leftovers(state)


def test_sigkill_of_the_driver_leaves_no_model_server(tmp_path: Path) -> None:
    state = tmp_path / "state"
    process = subprocess.Popen(
        _cli("demo", "--state-dir", str(state)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "warming up" in line:
            break
    deadline = time.monotonic() + 30
    while not _leftovers(state) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.kill()  # no handler runs: the servers see their input pipe close
    process.communicate(timeout=30)
    _no_leftovers(state)


def test_promote_of_the_local_example(tmp_path: Path) -> None:
    state = tmp_path / "state"
    report = tmp_path / "report.html"
    run = subprocess.run(
        _cli(
            "promote",
            str(ROOT / "examples" / "local" / "rollout.yaml"),
            "--state-dir",
            str(state),
            "--report",
            str(report),
            "-o",
            "json",
        ),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=400,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    document = json.loads(run.stdout)
    assert document["exitCode"] == 0
    assert document["drivenBy"] == "this process"
    assert report.is_file()
    stored = json.loads((state / "rollouts" / "local" / "fraud-scorer.json").read_text())
    assert stored["status"]["phase"] == "Succeeded"
    assert stored["status"]["activeEnv"] == "green"
    _no_leftovers(state)


def test_promote_of_the_local_example_with_the_slow_model_rolls_back(tmp_path: Path) -> None:
    example = ROOT / "examples" / "local"
    slow = example / "models" / "v2-slow.json"
    digest = hashlib.sha256(slow.read_bytes()).hexdigest()
    text = (example / "rollout.yaml").read_text(encoding="utf-8")
    good = "a9914dc616e8f496309a642b5e39105b801175493dddb30f56ed3b08af8a3a7c"
    assert text.count(good) == 2
    rollout = tmp_path / "rollout.yaml"
    rollout.write_text(
        text.replace(good, digest).replace("local://models/v2.json", f"file://{slow}"),
        encoding="utf-8",
    )
    state = tmp_path / "state"
    run = subprocess.run(
        _cli("promote", str(rollout), "--state-dir", str(state), "-o", "json"),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=400,
        check=False,
    )
    assert run.returncode == 1, run.stderr[-3000:]
    document = json.loads(run.stdout)
    assert document["exitCode"] == 1
    stored = json.loads((state / "rollouts" / "local" / "fraud-scorer.json").read_text())
    assert stored["status"]["phase"] == "RolledBack"
    assert stored["status"]["activeEnv"] == "blue"
    assert "latency" in stored["status"]["message"]
    _no_leftovers(state)
