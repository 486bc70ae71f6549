"""The embedded sandbox platform: reference model servers, a proxy, load, state on disk.

Bottom-of-stack parts of the local platform (DESIGN.md §5) and the metrics tests' test bed:
``modelserver`` (a real HTTP inference server with Prometheus metrics and injectable
regressions), ``model`` (the numpy model and its synthetic task), ``instruments`` (the metric
conventions), ``regressions``, ``modelcard`` (a release's model artifact on disk),
``loadgen`` and ``labelledload`` (finite and steady labelled load), ``proxy`` (the weighted
router), ``processes`` (child processes and their clean-up), ``statedir`` (rollouts and
environments on disk) and ``scenarios`` (the demo's releases). ``controller.local`` binds
them to the controller's ports.
"""

from __future__ import annotations

from mlrollout.local.loadgen import LoadPlan, LoadReport, send_load
from mlrollout.local.modelserver import ModelServer, ServerConfig
from mlrollout.local.regressions import Regressions

__all__ = ["LoadPlan", "LoadReport", "ModelServer", "Regressions", "ServerConfig", "send_load"]
