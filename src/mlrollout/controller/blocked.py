"""Recording on a rollout's status that the controller is not allowed to act on it.

Part of the ``controller`` layer, used by ``manager``: when RBAC refuses a request before a
reconcile pass can even start (reading the rollout's Deployments, Service or HTTPRoute while
building its reconciler), the refusal would otherwise live only in the controller's log.
``record_forbidden`` writes it as the rollout's ``Progressing=False`` condition with reason
``Forbidden`` and the API server's message. Best effort: when the status itself may not be
written, the log is all there is.
"""

from __future__ import annotations

import logging
from datetime import datetime

from mlrollout.controller.decision import stamp
from mlrollout.errors import ForbiddenError, MlrolloutError
from mlrollout.kube import KubeClient, RolloutStore, StoredRollout
from mlrollout.spec import RolloutStatus
from mlrollout.spec.status import set_condition

__all__ = ["record_forbidden"]

log = logging.getLogger("mlrollout.controller")


def record_forbidden(
    client: KubeClient, namespace: str, name: str, error: ForbiddenError, *, now: datetime
) -> None:
    """Set ``Progressing=False`` (reason ``Forbidden``) on the rollout, unless already set."""
    message = str(error)[:1000]

    def compute(stored: StoredRollout) -> RolloutStatus | None:
        status = stored.status
        conditions = set_condition(
            status.conditions,
            type="Progressing",
            status="False",
            reason="Forbidden",
            message=message,
            now=stamp(now),
            generation=stored.generation,
        )
        if conditions == status.conditions:
            return None
        return status.model_copy(
            update={"conditions": conditions, "message": f"forbidden: {message}"[:1000]}
        )

    try:
        RolloutStore(client).update_status(namespace, name, compute)
    except MlrolloutError as exc:
        log.warning("%s/%s: could not record the refusal: %s", namespace, name, exc)
