"""Shared test support: real servers started by tests (Prometheus)."""
