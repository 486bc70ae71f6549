"""Test support: run Debian's real Prometheus on loopback, optionally with backfilled history.

``start_prometheus`` writes a config (scrape targets given by the test, ``scrape_interval``
1s by default) into a temp dir, starts ``/usr/bin/prometheus`` on an ephemeral
127.0.0.1 port with that dir's TSDB and a long retention (so backfilled blocks are kept),
and waits for ``/-/ready``. ``backfill_openmetrics`` turns OpenMetrics text (timestamps in
seconds, ending ``# EOF``) into TSDB blocks with ``promtool tsdb create-blocks-from
openmetrics`` *before* the server starts. ``compose_openmetrics`` writes such text from
per-series samples. The ``prometheus_factory`` fixture starts servers and stops them all at
teardown. Missing binaries skip the test, or fail it when the ``CI`` variable is set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.ports import free_port

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
READY_TIMEOUT_S = 20.0


def require_prometheus() -> None:
    """Skip when Prometheus or promtool is missing, but fail under CI (``CI`` set)."""
    missing = [path for path in (PROMETHEUS, PROMTOOL) if not shutil.which(path)]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (apt-get install -y prometheus)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the prometheus tests")
    pytest.skip(message)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def compose_openmetrics(
    series: Mapping[tuple[str, tuple[tuple[str, str], ...]], Sequence[tuple[float, float]]],
) -> str:
    """OpenMetrics text: ``{(name, ((label, value), ...)): [(t seconds, value), ...]}``."""
    lines: list[str] = []
    for (name, labels), samples in sorted(series.items()):
        rendered = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
        for stamp, value in samples:
            lines.append(f"{name}{{{rendered}}} {value!r} {stamp:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def backfill_openmetrics(text: str, data_dir: Path) -> None:
    """Write ``text`` as TSDB blocks into ``data_dir`` (run before the server starts)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / "backfill.om"
    source.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"promtool backfill failed: {done.stderr or done.stdout}")


@dataclass
class PrometheusServer:
    """A running Prometheus: its URL, data directory and process."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """Terminate the process (and kill it if it lingers)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _write_config(path: Path, *, targets: Sequence[str], scrape_interval: str) -> None:
    lines = [
        "global:",
        f"  scrape_interval: {scrape_interval}",
        f"  evaluation_interval: {scrape_interval}",
    ]
    if targets:
        quoted = ", ".join(f"'{t}'" for t in targets)
        lines += [
            "scrape_configs:",
            "  - job_name: models",
            "    honor_labels: true",
            f"    static_configs: [{{targets: [{quoted}]}}]",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def start_prometheus(
    directory: Path, *, targets: Sequence[str] = (), scrape_interval: str = "1s"
) -> PrometheusServer:
    """Start Prometheus with its TSDB in ``directory / "data"`` and wait until it is ready."""
    require_prometheus()
    data_dir = directory / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    _write_config(config, targets=targets, scrape_interval=scrape_interval)
    port = free_port()
    log = directory / "prometheus.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={data_dir}",
                "--storage.tsdb.retention.time=3650d",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-admin-api",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = PrometheusServer(
        url=f"http://127.0.0.1:{port}", data_dir=data_dir, process=process, log=log
    )
    _wait_ready(server)
    return server


def _wait_ready(server: PrometheusServer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"prometheus exited: {server.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(server.url + "/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(
        f"prometheus not ready in {READY_TIMEOUT_S}s: {server.log.read_text()[-2000:]}"
    )


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[..., PrometheusServer]]:
    """``start(targets=..., history=openmetrics_text)``: servers stopped at teardown."""
    require_prometheus()
    started: list[PrometheusServer] = []

    def start(*, targets: Sequence[str] = (), history: str | None = None) -> PrometheusServer:
        directory = tmp_path / f"prometheus-{len(started)}"
        directory.mkdir()
        if history is not None:
            backfill_openmetrics(history, directory / "data")
        server = start_prometheus(directory, targets=targets)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
