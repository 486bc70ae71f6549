"""The pod-security gate's entry point: a pod template against a Pod Security Standards level.

Pure; part of the ``gates`` layer. The controls themselves are ``pss.CONTROLS`` (one per
control of the standard); ``hardening`` adds mlrollout's extra rules and
``hardening.assess_pod_template`` runs both at the level ``gates.podSecurity`` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlrollout.gates.pss import ALLOWED_VOLUME_TYPES, Finding, Level, assess_pss, iter_containers

__all__ = [
    "ALLOWED_VOLUME_TYPES",
    "Finding",
    "Level",
    "assess_pod_security",
    "assess_restricted",
    "iter_containers",
]


def assess_pod_security(template: Mapping[str, Any], level: Level | str) -> list[Finding]:
    """Every violation of ``level`` (``baseline`` or ``restricted``) in ``template``."""
    return assess_pss(template, Level(level))


def assess_restricted(template: Mapping[str, Any]) -> list[Finding]:
    """Every baseline and restricted violation in ``template`` (a pod template dict)."""
    return assess_pss(template, Level.RESTRICTED)
