"""Undo: put a recorded revision's release back into the rollout's spec.

Part of the ``controller`` layer. ``mlrollout undo`` picks a revision from
``status.revisions`` (``select_revision``) and ``write_undo`` replaces the spec's release at
the version read, with the ``mlrollout.io/undo`` annotation naming the revision and the
generation the change creates. Nothing else is special: the new generation is verified by
the gates again (a key since removed from trust refuses it), then rolled out through the
steps and analysis — or straight to full weight with ``--skip-analysis``, which
``parse_undo`` hands to ``decide`` as an ``UndoRequest`` for that generation only.
"""

from __future__ import annotations

from typing import Any

from mlrollout.core.observation import UndoRequest
from mlrollout.errors import SpecError
from mlrollout.kube import KubeClient, PatchType, StoredRollout
from mlrollout.kube.kinds import MODELROLLOUTS
from mlrollout.kube.rollouts import parse_stored
from mlrollout.spec.status import UNDO_ANNOTATION, Revision, StatusRelease

__all__ = ["format_undo", "parse_undo", "select_revision", "write_undo"]

_SKIP = "skipAnalysis"


def format_undo(revision: int, generation: int, *, skip_analysis: bool) -> str:
    """The annotation value for an undo that creates ``generation``."""
    text = f"revision={revision},generation={generation}"
    return f"{text},{_SKIP}" if skip_analysis else text


def parse_undo(stored: StoredRollout) -> UndoRequest | None:
    """The undo that made the stored generation, if any (a stale or garbled one is none)."""
    annotations = stored.raw["metadata"].get("annotations") or {}
    text = annotations.get(UNDO_ANNOTATION)
    if not text:
        return None
    fields = dict(part.partition("=")[::2] for part in str(text).split(","))
    try:
        revision, generation = int(fields["revision"]), int(fields["generation"])
    except (KeyError, ValueError):
        return None
    if generation != stored.generation or revision < 1:
        return None
    return UndoRequest(revision=revision, skip_analysis=_SKIP in fields)


def _current(stored: StoredRollout) -> StatusRelease:
    release = stored.rollout.spec.release
    return StatusRelease(
        image=release.image, model_uri=release.model.uri, model_sha256=release.model.sha256
    )


def select_revision(stored: StoredRollout, number: int | None) -> Revision:
    """Revision ``number``, or by default the latest one whose release is not the spec's.

    An unknown number is a ``SpecError`` (exit 2) naming it and the ones kept.
    """
    revisions = stored.status.revisions
    where = f"modelrollout/{stored.rollout.namespace}/{stored.rollout.name}"
    known = ", ".join(str(r.number) for r in revisions) or "none"
    if number is None:
        current = _current(stored)
        earlier = [r for r in revisions if r.release != current]
        if not earlier:
            raise SpecError(
                f"no previous revision to go back to (revisions kept: {known})",
                source=where,
                path="--to-revision",
            )
        return earlier[-1]
    for revision in revisions:
        if revision.number == number:
            return revision
    raise SpecError(
        f"revision {number} not found (revisions kept: {known})",
        source=where,
        path="--to-revision",
    )


def write_undo(
    client: KubeClient, stored: StoredRollout, *, revision: Revision, skip_analysis: bool
) -> StoredRollout:
    """Replace the spec's release with the revision's, at the version read (409 if stale).

    A revision that is already the spec's release is a ``SpecError``: there is nothing to
    change, and ``mlrollout retry`` starts a settled release again.
    """
    if _current(stored) == revision.release:
        raise SpecError(
            f"revision {revision.number} is already the spec's release "
            "(use `mlrollout retry` to start it again)",
            path="--to-revision",
        )
    raw = stored.raw
    release = {
        "image": revision.image,
        "model": {"uri": revision.model_uri, "sha256": revision.model_sha256},
    }
    generation = stored.generation + 1  # the API server bumps it once for a spec change
    annotations = dict(raw["metadata"].get("annotations") or {})
    annotations[UNDO_ANNOTATION] = format_undo(
        revision.number, generation, skip_analysis=skip_analysis
    )
    body: dict[str, Any] = {
        **raw,
        "metadata": {**raw["metadata"], "annotations": annotations},
        "spec": {**raw["spec"], "release": release},
    }
    written = parse_stored(client.replace(MODELROLLOUTS, body))
    if written.generation == generation:
        return written
    # A server that counts generations differently: point the annotation at the real one.
    value = format_undo(revision.number, written.generation, skip_analysis=skip_analysis)
    patch = {"metadata": {"annotations": {UNDO_ANNOTATION: value}}}
    meta = written.rollout.metadata
    return parse_stored(
        client.patch(MODELROLLOUTS, meta.name, meta.namespace, patch, patch_type=PatchType.MERGE)
    )
