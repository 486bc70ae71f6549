"""Validated input: the ModelRollout and AnalysisTemplate resources and how they are loaded.

Layer just above ``model``/``errors``. The pydantic models here are the single source of
truth for validation, the CRD (``spec.crd``) and the editor JSON schema.
"""

from __future__ import annotations

from mlrollout.spec.loader import (
    Document,
    LoadResult,
    check_references,
    load_file,
    load_object,
    load_paths,
    load_rollout,
    load_text,
)
from mlrollout.spec.rollout import ModelRollout, ModelRolloutSpec
from mlrollout.spec.status import Phase, RolloutStatus
from mlrollout.spec.template import AnalysisTemplate, MetricKind

__all__ = [
    "AnalysisTemplate",
    "Document",
    "LoadResult",
    "MetricKind",
    "ModelRollout",
    "ModelRolloutSpec",
    "Phase",
    "RolloutStatus",
    "check_references",
    "load_file",
    "load_object",
    "load_paths",
    "load_rollout",
    "load_text",
]
