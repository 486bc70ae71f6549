"""Child processes of the control plane: started with their output in a log file, killed
with their parent, stopped in order.

Part of the ``controlplane`` test package; ``cluster`` starts one ``Child`` per component.
Each child asks the kernel (``PR_SET_PDEATHSIG``) for SIGKILL when the pytest process dies,
so an interrupted or killed session leaves no etcd or kube-apiserver behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from support.ports import free_port

__all__ = ["Child", "die_with_parent", "free_port"]

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` of a child that must not outlive this process (SIGKILL on its death)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Child:
    """One component process; its stdout and stderr go to ``log``; ``env`` adds to (or
    overrides) the inherited environment."""

    def __init__(
        self, name: str, argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Child:
        """Start the process (it dies with this one)."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
                env={
                    **{k: v for k, v in os.environ.items() if not k.startswith("KUBE")},
                    **self.env,
                },
            )
        return self

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 25) -> str:
        """The last lines of the log, for failure messages."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
