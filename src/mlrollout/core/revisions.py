"""Release revisions: every release that reaches Succeeded is numbered and kept.

Part of the pure ``core``. ``phases.succeed`` appends the revision to the status it
writes, in the same status write as the phase change, so a crash can neither lose a
promoted release nor record one twice. ``mlrollout history`` lists them; ``mlrollout undo``
writes one back into the spec, and the normal path (gates again, then steps and analysis)
re-releases it. Neighbours: ``observation.UndoRequest`` (what ``undo`` asked for).
"""

from __future__ import annotations

from mlrollout.core.decision import stamp
from mlrollout.core.observation import Observation
from mlrollout.spec import RolloutStatus
from mlrollout.spec.status import Revision, StatusRelease, VerificationStatus

__all__ = ["MESSAGE_LIMIT", "record_revision", "skipping_analysis"]

MESSAGE_LIMIT = 512


def skipping_analysis(obs: Observation) -> bool:
    """Whether this generation is an ``undo --skip-analysis`` (gates are never skipped)."""
    return obs.undo is not None and obs.undo.skip_analysis


def record_revision(obs: Observation, status: RolloutStatus) -> list[Revision]:
    """The revisions with the status's release appended as the next number, bounded by
    ``spec.revisionHistoryLimit`` (oldest dropped)."""
    release = status.release
    assert release is not None
    revisions = status.revisions
    number = revisions[-1].number + 1 if revisions else 1
    revision = Revision(
        number=number,
        image=release.image,
        model_uri=release.model_uri,
        model_sha256=release.model_sha256,
        generation=obs.generation,
        verification=_kept(status.verification) or _unverified(release),
        driven_by=obs.actor,
        undo_of=obs.undo.revision if obs.undo is not None else None,
        skipped_analysis=skipping_analysis(obs),
        verified_at=status.verification.checked_at if status.verification else None,
        succeeded_at=stamp(obs.now),
    )
    limit = obs.rollout.spec.revision_history_limit
    return [*revisions, revision][-limit:]


def _kept(verification: VerificationStatus | None) -> VerificationStatus | None:
    """The gates' verdict, its message cut short: the status must stay small."""
    if verification is None or verification.message is None:
        return verification
    return verification.model_copy(update={"message": verification.message[:MESSAGE_LIMIT]})


def _unverified(release: StatusRelease) -> VerificationStatus:
    # Only reachable for a status written before verification was recorded: say so.
    return VerificationStatus(image=release.image, verified=False, message="not recorded")
