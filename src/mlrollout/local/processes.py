"""Child processes of the local platform, and their clean-up whatever way the parent ends.

Part of the ``local`` sandbox. ``ModelServerProcess`` runs ``python -m
mlrollout.local.modelserver`` on a free loopback port and reads the URL it prints. Three
layers of clean-up make sure no server outlives the command that started it:

- ``ProcessSupervisor.stop_all`` (called by the owner's ``finally``, and by ``atexit``)
  terminates every child still running, then kills what did not stop within a grace period;
- ``install_signal_handlers`` turns SIGTERM and SIGHUP into ``SystemExit`` so that
  ``finally`` blocks and ``atexit`` run (Ctrl-C is already ``KeyboardInterrupt``; the
  children share the terminal's process group, so they receive it too);
- each child reads its standard input, a pipe from the parent, and stops at end of file
  (``--exit-on-stdin-close``): when the parent dies, even by SIGKILL, the pipe closes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

__all__ = [
    "ModelServerProcess",
    "ProcessSupervisor",
    "StartError",
    "install_signal_handlers",
]

START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0


class StartError(RuntimeError):
    """A child process did not start (it exited, or printed no address in time)."""


class ModelServerProcess:
    """One model-server process serving ``environment`` with the model card ``model``."""

    def __init__(self, environment: str, model: Path, *, log: Path | None = None) -> None:
        self.environment = environment
        self.model = model
        self.url = ""
        self._log = log
        command = [
            sys.executable,
            "-m",
            "mlrollout.local.modelserver",
            "--environment",
            environment,
            "--port",
            "0",
            "--model",
            str(model),
            "--exit-on-stdin-close",
        ]
        sink = log.open("ab") if log is not None else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=sink,
                close_fds=True,
            )
        finally:
            if log is not None and not isinstance(sink, int):
                sink.close()

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> str:
        """Wait for the ``serving <env> on <url>`` line; the URL."""
        assert self.process.stdout is not None
        line = _read_line(self.process.stdout.fileno(), timeout_s)
        prefix = f"serving {self.environment} on "
        if not line.startswith(prefix):
            self.stop()
            where = f" (see {self._log})" if self._log is not None else ""
            raise StartError(
                f"the {self.environment} model server did not start "
                f"(exit code {self.process.poll()}){where}"
            )
        self.url = line.removeprefix(prefix).strip()
        return self.url

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Close its input (it stops by itself), then SIGTERM, then SIGKILL; reap it."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=min(1.0, grace_s))
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _read_line(fd: int, timeout_s: float) -> str:
    """One line from ``fd`` within ``timeout_s`` ("" on end of file or timeout)."""
    deadline = time.monotonic() + timeout_s
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                break
            chunk = os.read(fd, 1)
            if not chunk:
                break
            data += chunk
    return data.decode("utf-8", "replace")


class ProcessSupervisor:
    """Every child the local platform started; ``stop_all`` at the end, or at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: list[ModelServerProcess] = []
        atexit.register(self.stop_all)

    def start(
        self, environment: str, model: Path, *, log: Path | None = None
    ) -> ModelServerProcess:
        """Start a model server and wait until it serves."""
        child = ModelServerProcess(environment, model, log=log)
        with self._lock:
            self._children.append(child)
        child.wait_ready()
        return child

    def stop(self, child: ModelServerProcess) -> None:
        """Stop one child."""
        child.stop()
        with self._lock:
            if child in self._children:
                self._children.remove(child)

    @property
    def pids(self) -> list[int]:
        """Process ids of the children still tracked."""
        with self._lock:
            return [c.pid for c in self._children]

    def stop_all(self) -> None:
        """Stop every child (idempotent)."""
        with self._lock:
            children, self._children = self._children, []
        for child in children:
            child.stop()


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP raise ``SystemExit`` in the main thread (so clean-up runs)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
