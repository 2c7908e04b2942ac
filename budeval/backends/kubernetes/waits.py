"""Pods that wait — for a node, for their volumes, for a pod at all — and how long that may last.

Kubernetes keeps such pods Pending on purpose: capacity frees up, an autoscaler adds a node, a
volume gets provisioned. So these are waits, each with a grace period, after which the run fails:
a pod waiting on its volumes (any scheduler version's wording, see VOLUME_WAIT) after the PVC
grace (PVCPending); a pod no node can take yet (`Insufficient cpu`) after the unschedulable
grace (Unschedulable); a Job that gets no pod at all (admission refused it) after the same
(PodNotCreated).
Pure, like podstate.py.
"""

from __future__ import annotations

from budeval.backends.base import RunState
from budeval.backends.kubernetes.kubeobj import (
    MESSAGE_MAX,
    Obj,
    condition,
    created,
    failed,
    parse_time,
    status,
)

VOLUME_WAIT = (
    "persistentvolumeclaim",  # "pod has unbound immediate PersistentVolumeClaims", "… not found"
    "persistent volume",  # v1.20: "didn't find available persistent volumes to bind"
    "volume node affinity conflict",
    "pvc(s)",  # "bound to non-existent pv(s)"
    "waiting for first consumer",
    "volumebinding",  # a PreBind plugin's error
    "binding volumes",
)
"""Scheduler message fragments (lower case, v1.20 to now) of a pod waiting on its volumes."""
UNSCHEDULABLE_SECONDS = 600.0
CLOCK_SLACK = 1.0
"""API timestamps have whole seconds: a time rule waits this much longer, never less."""


def pvc_pending(pods: list[Obj], pvcs: list[Obj], *, now: float, limit: float) -> RunState | None:
    for pvc in pvcs:
        age = now - created(pvc)
        if status(pvc).get("phase") == "Pending" and age > limit:
            name = (pvc.get("metadata") or {}).get("name")
            message = f"PVC {name} is still Pending after {age:.0f}s"
            return failed("PVCPending", message, finished_at=now)
    for pod in pods:  # a claim missing, unbound or out of reach keeps the pod from any node
        message, since = not_scheduled(pod)
        if volume_wait(message) and now - since > limit:
            return failed("PVCPending", message[:MESSAGE_MAX], finished_at=now)
    return None


def volume_wait(message: str) -> bool:
    """Whether a scheduler message says the pod waits for its volumes (any version's wording)."""
    lowered = message.lower()
    return any(fragment in lowered for fragment in VOLUME_WAIT)


def not_scheduled(pod: Obj) -> tuple[str, float]:
    """(the scheduler's message, since when) of a pod not yet on a node; ("", …) otherwise."""
    scheduled = condition(pod, "PodScheduled") or {}
    since = parse_time(scheduled.get("lastTransitionTime")) or created(pod)
    if scheduled.get("status") == "True":
        return "", since
    return str(scheduled.get("message") or ""), since


def unschedulable(pods: list[Obj], now: float, limit: float) -> RunState | None:
    """No node for the pod yet: capacity may free up or an autoscaler add a node, so this fails
    only after `limit` seconds (volume waits are the PVC rule's)."""
    for pod in pods:
        scheduled = condition(pod, "PodScheduled") or {}
        message, since = not_scheduled(pod)
        if (
            scheduled.get("reason") == "Unschedulable"
            and not volume_wait(message)
            and now - since > limit + CLOCK_SLACK
        ):
            return failed("Unschedulable", message[:MESSAGE_MAX] or None, finished_at=now)
    return None


def no_pod(job: Obj, pods: list[Obj], now: float, limit: float) -> RunState | None:
    """A Job that never got a pod: admission refuses it (an unknown PriorityClass, a quota);
    the Job controller only records FailedCreate events, so time is the one signal."""
    if pods or int(status(job).get("active") or 0) > 0:  # a pod exists; the cache may lag
        return None
    since = parse_time(status(job).get("startTime")) or created(job)
    if now - since <= limit + CLOCK_SLACK:
        return None
    message = (
        f"the Job created no pod in {now - since:.0f}s: admission refused it (an unknown "
        "PriorityClass, a ResourceQuota, a policy); the Job's events say which"
    )
    return failed("PodNotCreated", message, finished_at=now)
