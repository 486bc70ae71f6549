"""Fixtures of the metrics tests: the real-Prometheus factory from ``support.prometheus``."""

from __future__ import annotations

from support.prometheus import prometheus_factory

__all__ = ["prometheus_factory"]
