"""GPU capacity preflight: is there room for the candidate's pods before any pod starts?

Part of ``gates`` (preflight checks), beside ``podsecurity``; reads nodes and pods through
``kube``. ``assess_gpu_capacity`` is pure over node and pod dicts; ``fetch_gpu_capacity``
lists them with a ``KubeClient``. How many pods must fit is the caller's: the controller
derives it from the step plan with ``traffic.replica_math.compute_pods_to_place`` (surge:
the candidate's full replica count on top of stable; constant: the largest step increment).

Eligible nodes: not cordoned, every ``nodeSelector`` label matches, one of the required
node affinity terms matches (``In``/``NotIn``/``Exists``/``DoesNotExist``/``Gt``/``Lt``), and
every ``NoSchedule``/``NoExecute`` taint is tolerated. Free GPUs per node: allocatable minus
what the non-terminated pods bound to it request. A pod's GPUs must all sit on one node, so
a node offers ``free // per_pod`` pod slots: two nodes with one free GPU each do not fit a
two-GPU pod.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlrollout.errors import GateError
from mlrollout.gates.reasons import Reason
from mlrollout.kube import KubeClient
from mlrollout.kube.environments import compute_pod_gpus
from mlrollout.kube.informer import Informer
from mlrollout.kube.kinds import NODES, PODS

__all__ = [
    "GPU_CAPACITY",
    "CapacityAssessment",
    "CapacitySnapshot",
    "assess_gpu_capacity",
    "decide_eligible_node",
    "fetch_gpu_capacity",
]

GPU_CAPACITY = Reason.GPU_CAPACITY.value
"""The ``GateError`` reason code of a refusal (not yet a member of ``gates.Reason``)."""

Obj = Mapping[str, Any]
_TERMINATED = ("Succeeded", "Failed")


def _labels(node: Obj) -> dict[str, str]:
    return dict((node.get("metadata") or {}).get("labels") or {})


def _expression_matches(expression: Obj, labels: Mapping[str, str]) -> bool:
    key, operator = expression.get("key", ""), expression.get("operator", "")
    values = [str(v) for v in expression.get("values") or []]
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and labels[key].isdigit() and values:
        number, bound = int(labels[key]), int(values[0])
        return number > bound if operator == "Gt" else number < bound
    return False


def _affinity_matches(pod_spec: Obj, labels: Mapping[str, str]) -> bool:
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    return any(
        all(_expression_matches(e, labels) for e in term.get("matchExpressions") or [])
        for term in terms
    )


def _tolerated(taint: Obj, tolerations: Sequence[Obj]) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") not in (None, "", taint.get("effect")):
            continue
        if toleration.get("operator") == "Exists":
            if toleration.get("key") in (None, "", taint.get("key")):
                return True
        elif toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get(
            "value", ""
        ):
            return True
    return False


def decide_eligible_node(node: Obj, pod_spec: Obj) -> bool:
    """Whether the scheduler could place a pod of ``pod_spec`` on ``node`` (GPUs aside)."""
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    labels = _labels(node)
    selector = pod_spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    if not _affinity_matches(pod_spec, labels):
        return False
    tolerations = pod_spec.get("tolerations") or []
    return all(
        _tolerated(t, tolerations)
        for t in (node.get("spec") or {}).get("taints") or []
        if t.get("effect") in ("NoSchedule", "NoExecute")
    )


def _describe_selector(pod_spec: Obj) -> str:
    parts = [f"{k}: {v}" for k, v in sorted((pod_spec.get("nodeSelector") or {}).items())]
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for e in term.get("matchExpressions") or []:
            parts.append(f"{e.get('key')} {e.get('operator')} {e.get('values') or ''}".rstrip())
    return "{" + ", ".join(parts) + "}" if parts else "any node"


@dataclass(frozen=True)
class CapacityAssessment:
    """Room for ``pods`` pods of ``per_pod`` GPUs each; ``message`` says why (not)."""

    pods: int
    per_pod: Mapping[str, int]
    slots: int
    free: Mapping[str, Mapping[str, int]]
    message: str

    @property
    def sufficient(self) -> bool:
        """Whether every pod finds a node with all its GPUs."""
        return self.slots >= self.pods

    def raise_if_short(self) -> None:
        """``GateError`` (reason ``GPU_CAPACITY``) when the pods do not fit."""
        if not self.sufficient:
            raise GateError(GPU_CAPACITY, self.message)


def _free_gpus(node: Obj, pods: Iterable[Obj], resource: str) -> int:
    name = (node.get("metadata") or {}).get("name")
    allocatable = int(str(((node.get("status") or {}).get("allocatable") or {}).get(resource, 0)))
    used = sum(
        compute_pod_gpus(p.get("spec") or {}).get(resource, 0)
        for p in pods
        if (p.get("spec") or {}).get("nodeName") == name
        and (p.get("status") or {}).get("phase") not in _TERMINATED
    )
    return max(0, allocatable - used)


def _explain(
    *,
    pods: int,
    per_pod: Mapping[str, int],
    free: Mapping[str, Mapping[str, int]],
    slots: int,
    where: str,
) -> str:
    parts = []
    for resource, each in per_pod.items():
        by_node = free[resource]
        total = sum(by_node.values())
        listed = ", ".join(f"{n}: {g}" for n, g in sorted(by_node.items())) or "no such nodes"
        count = f" ({pods} pods of {each})" if each > 1 else ""
        text = f"needs {pods * each} {resource}{count} on nodes matching {where}, {total} free"
        text += f" ({listed})"
        if each > 1:
            text += f", room for {slots} such pod(s) on single nodes"
        short = max(0, pods * each - min(total, slots * each))
        parts.append(text + (f": short by {short}" if short else ": enough"))
    return "; ".join(parts)


def assess_gpu_capacity(
    *, nodes: Sequence[Obj], pods: Sequence[Obj], pod_spec: Obj, replicas: int
) -> CapacityAssessment:
    """Whether ``replicas`` more pods of ``pod_spec`` fit on the eligible nodes' free GPUs.

    >>> node = {"metadata": {"name": "node-a", "labels": {"pool": "a100"}},
    ...         "status": {"allocatable": {"nvidia.com/gpu": "4"}}}
    >>> spec = {"nodeSelector": {"pool": "a100"},
    ...         "containers": [{"resources": {"limits": {"nvidia.com/gpu": 1}}}]}
    >>> assess_gpu_capacity(nodes=[node], pods=[], pod_spec=spec, replicas=6).message
    'needs 6 nvidia.com/gpu on nodes matching {pool: a100}, 4 free (node-a: 4): short by 2'
    """
    per_pod = compute_pod_gpus(pod_spec)
    eligible = [n for n in nodes if decide_eligible_node(n, pod_spec)]
    free = {
        resource: {str(n["metadata"]["name"]): _free_gpus(n, pods, resource) for n in eligible}
        for resource in per_pod
    }
    if per_pod:
        slots = sum(
            min(free[r][str(n["metadata"]["name"])] // each for r, each in per_pod.items())
            for n in eligible
        )
    else:
        slots = replicas  # a pod without GPUs needs no GPU room
    message = _explain(
        pods=replicas, per_pod=per_pod, free=free, slots=slots, where=_describe_selector(pod_spec)
    )
    return CapacityAssessment(
        pods=replicas,
        per_pod=per_pod,
        slots=slots,
        free=free,
        message=message or "the pods request no GPUs",
    )


def fetch_gpu_capacity(
    client: KubeClient,
    *,
    pod_spec: Obj,
    replicas: int,
    snapshot: CapacitySnapshot | None = None,
) -> CapacityAssessment:
    """``assess_gpu_capacity`` over the cluster's nodes and all namespaces' pods (read
    through ``snapshot`` when given)."""
    nodes, pods = snapshot.read() if snapshot is not None else _list(client)
    return assess_gpu_capacity(nodes=nodes, pods=pods, pod_spec=pod_spec, replicas=replicas)


def _list(client: KubeClient) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return client.list(NODES), client.list(PODS, None)


class CapacitySnapshot:
    """The cluster's nodes and pods, listed at most once per ``max_age`` seconds for every
    capacity check that shares it (the in-cluster manager's, across its rollouts).

    Listing every pod of the cluster for each verification costs O(pods) per rollout: a
    thousand rollouts verifying together would list the cluster a thousand times. A check
    that finds the snapshot younger than ``max_age`` uses it; concurrent checks wait for one
    list instead of each making their own. The gate stays what it is, a check of free GPUs
    just before deploying: the scheduler places the pods seconds later in any case, so a
    snapshot a second or two old changes how stale the answer can be, not what it means.

    With ``watch`` (the in-cluster manager's), the first read also starts an ``Informer``
    per kind, and once both hold the current nodes and pods a check reads them from memory
    (as current as the watch, usually fresher than a 2 s old list) and lists nothing: on a
    big cluster a pod list takes seconds, which every verification waited for. While an
    informer is not current (starting, relisting after an error, a stalled watch), checks
    list as without it.
    """

    def __init__(
        self,
        client: KubeClient,
        *,
        max_age: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
        watch: bool = False,
    ) -> None:
        self.client = client
        self.max_age = max_age
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._taken: float | None = None
        self._lists: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        self._informers = (
            (Informer(client, NODES), Informer(client, PODS, keep=_capacity_fields))
            if watch
            else None
        )

    def read(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(nodes, pods): the informers' when current, else listed now unless the last list
        is younger than ``max_age``."""
        if self._informers is not None:
            nodes, pods = (informer.start().items() for informer in self._informers)
            if nodes is not None and pods is not None:
                return nodes, pods
        with self._lock:
            now = self._monotonic()
            if self._taken is None or now - self._taken >= self.max_age:
                self._lists = _list(self.client)  # a failed list keeps no snapshot
                self._taken = self._monotonic()
            return self._lists

    def stop(self) -> None:
        """Stop the informers (if any)."""
        for informer in self._informers or ():
            informer.stop()


def _capacity_fields(pod: dict[str, Any]) -> dict[str, Any]:
    """What the gate reads of a pod: where it runs, what it requests, whether it ended."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    return {
        "metadata": {"namespace": meta.get("namespace"), "name": meta.get("name")},
        "spec": {
            "nodeName": spec.get("nodeName"),
            "containers": [{"resources": c.get("resources")} for c in spec.get("containers") or []],
            "initContainers": [
                {"resources": c.get("resources")} for c in spec.get("initContainers") or []
            ],
        },
        "status": {"phase": (pod.get("status") or {}).get("phase")},
    }
