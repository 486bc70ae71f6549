"""Tests of the metrics layer: query rendering, increases, error mapping, real Prometheus."""
