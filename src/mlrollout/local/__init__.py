"""The embedded sandbox platform: reference model servers and a load generator.

Bottom-of-stack test bed for the local platform (DESIGN.md §5) and for the metrics tests:
``modelserver`` (a real HTTP inference server with Prometheus metrics and injectable
regressions), ``model`` (the numpy model and its synthetic task), ``instruments`` (the metric
conventions), ``regressions`` and ``loadgen``. Uses the standard library, numpy and
prometheus-client only.
"""

from __future__ import annotations

from mlrollout.local.loadgen import LoadPlan, LoadReport, send_load
from mlrollout.local.modelserver import ModelServer, ServerConfig
from mlrollout.local.regressions import Regressions

__all__ = ["LoadPlan", "LoadReport", "ModelServer", "Regressions", "ServerConfig", "send_load"]
