"""``mlrollout controller -o json|yaml``: its log as machine documents, and a clear line
within 10 s of starting when the API server cannot be reached.

Runs the real command as a subprocess against a closed loopback port (connection refused);
nothing is faked.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from mlrollout.cli.logs import RecordFormatter
from mlrollout.cli.output import OutputFormat

ROOT = Path(__file__).resolve().parents[2]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{_closed_port()}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    return path


def _lines(stream: object, into: queue.Queue[tuple[float, str]]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put((time.monotonic(), line.rstrip("\n")))


@pytest.mark.slow
def test_json_log_names_an_unreachable_api_server_within_10s_of_starting(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("KUBECONFIG", None)
    argv = [sys.executable, "-m", "mlrollout", "controller", "-o", "json"]
    argv += ["--health-host", "127.0.0.1", "--health-port", "0"]
    argv += ["--kubeconfig", str(_kubeconfig(tmp_path))]
    lines: queue.Queue[tuple[float, str]] = queue.Queue()
    records: list[tuple[float, dict[str, str]]] = []
    with subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as process:
        reader = threading.Thread(target=_lines, args=(process.stderr, lines), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 180  # start-up on a loaded machine, not the claim
            while time.monotonic() < deadline:
                at, line = lines.get(timeout=deadline - time.monotonic())
                record = json.loads(line)  # every line is one JSON object
                assert set(record) >= {"time", "level", "logger", "message"}, record
                records.append((at, record))
                if record["level"] == "ERROR":
                    break
        finally:
            process.terminate()
            process.wait(timeout=30)
            reader.join(timeout=10)
    started_at, started = records[0]
    assert started["message"].startswith("starting as "), started
    failed_at, failed = records[-1]
    assert "cannot use the API server" in failed["message"], failed
    assert "Connection refused" in failed["message"], failed
    assert failed_at - started_at < 10.0


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("mlrollout.x", logging.WARNING, __file__, 1, message, args, None)


def test_yaml_log_is_one_document_per_record() -> None:
    formatter = RecordFormatter(OutputFormat.YAML)
    text = "\n".join(formatter.format(_record("line %d: %s", n, "a: b\nc")) for n in (1, 2))
    documents = list(yaml.safe_load_all(text))
    assert [d["message"] for d in documents] == ["line 1: a: b\nc", "line 2: a: b\nc"]
    assert {d["level"] for d in documents} == {"WARNING"}


def test_json_log_keeps_a_multi_line_message_on_one_line() -> None:
    line = RecordFormatter(OutputFormat.JSON).format(_record("two\nlines"))
    assert "\n" not in line
    assert json.loads(line)["message"] == "two\nlines"
