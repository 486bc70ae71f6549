"""Tests of the traffic routers: one contract suite, fake and real, plus per-router tests."""
