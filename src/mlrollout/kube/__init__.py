"""The Kubernetes platform adapter: the only importer of the ``kubernetes`` client.

Layer below ``controller``, ``traffic`` and ``gates``. ``client`` gives dict-in/dict-out verbs
with errors translated once (``translate``) and named retry policies (``retry``);
``rollouts`` keeps ModelRollout state (status read-modify-write, intents); ``lease`` elects
one actor; ``events`` records Kubernetes Events; ``environments`` manages the two GPU
Deployments.
"""

from __future__ import annotations

from mlrollout.kube.client import KubeClient, PatchType, connect
from mlrollout.kube.events import EventRecorder
from mlrollout.kube.lease import LeaseLock, LeaseSettings
from mlrollout.kube.rollouts import Intent, RolloutStore, StoredRollout, pending_intents

__all__ = [
    "EventRecorder",
    "Intent",
    "KubeClient",
    "LeaseLock",
    "LeaseSettings",
    "PatchType",
    "RolloutStore",
    "StoredRollout",
    "connect",
    "pending_intents",
]
