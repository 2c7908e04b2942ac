"""A run's final word, kept on its output PVC so it outlives the Job.

The Job can vanish before the evaluation has read its fate: `ttlSecondsAfterFinished`, a cancel
(which deletes it), or a pod-level failure that we stop ourselves (an image that will never pull
would keep a pod Pending forever). The output PVC lives until cleanup, so the first terminal state
seen is written there as annotations and wins over whatever the (missing) Job says later.
"""

from __future__ import annotations

import contextlib
from typing import Any

from lightkube.resources.core_v1 import PersistentVolumeClaim

from budeval.backends.base import RunHandle, RunState
from budeval.backends.kubernetes import podstate
from budeval.backends.kubernetes.clusters import ClusterConfig
from budeval.backends.kubernetes.informer import Informer
from budeval.backends.kubernetes.labels import (
    ANNOTATION_EVAL_ID,
    ANNOTATION_RUN_ID,
    COMPONENT_READER,
    LABEL_COMPONENT,
    object_names,
)
from budeval.backends.kubernetes.objects import annotate, delete_job, delete_secret
from budeval.config import Settings
from budeval.errors import NotFound
from budeval.status import RunStatus

OUTCOME = "budeval.io/outcome"
REASON = "budeval.io/reason"
MESSAGE = "budeval.io/message"
EXIT_CODE = "budeval.io/exit-code"
FINISHED = "budeval.io/finished-at"
DIGEST = "budeval.io/output-digest"
DOOMED = {
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "Unschedulable",
    "PVCPending",
    "PodNotCreated",
}
"""Pod-level failures the Job controller would wait on forever: budeval deletes the Job."""


def _output_pvc(pvcs: list[dict[str, Any]]) -> dict[str, Any] | None:
    for pvc in pvcs:
        if pvc["metadata"]["name"].endswith("-output-pvc"):
            return pvc
    return None


def _marks(pvcs: list[dict[str, Any]]) -> dict[str, str]:
    pvc = _output_pvc(pvcs)
    return dict((pvc or {}).get("metadata", {}).get("annotations") or {})


def marked(pvcs: list[dict[str, Any]]) -> bool:
    return OUTCOME in _marks(pvcs)


def resolve(
    job: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    pvcs: list[dict[str, Any]],
    *,
    now: float,
    settings: Settings,
) -> RunState:
    marks = _marks(pvcs)
    if OUTCOME in marks:
        return RunState(
            status=RunStatus(marks[OUTCOME]),
            reason=marks.get(REASON) or None,
            message=marks.get(MESSAGE) or None,
            exit_code=int(marks[EXIT_CODE]) if marks.get(EXIT_CODE) else None,
            finished_at=float(marks[FINISHED]) if marks.get(FINISHED) else None,
        )
    return podstate.run_state(
        job,
        pods,
        pvcs,
        now=now,
        pvc_pending_seconds=settings.kube_pvc_pending_seconds,
        unschedulable_seconds=settings.kube_unschedulable_grace_seconds,
    )


def digest(pvcs: list[dict[str, Any]], pods: list[dict[str, Any]]) -> str | None:
    """The output digest the in-job wrapper reported (kept on the PVC once the pod is gone)."""
    if marks := _marks(pvcs).get(DIGEST):
        return marks
    for pod in sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or ""):
        document = podstate.termination_document(pod)
        if document and document.get("exit_code") == 0 and document.get("digest"):
            return str(document["digest"])
    return None


def handle_of(
    job: dict[str, Any] | None, pvcs: list[dict[str, Any]], cluster: ClusterConfig, backend: str
) -> RunHandle | None:
    """The run an object set belongs to, from the ids budeval wrote in its annotations."""
    source = job or _output_pvc(pvcs)
    if source is None:
        return None
    metadata = source["metadata"]
    if (metadata.get("labels") or {}).get(LABEL_COMPONENT) == COMPONENT_READER:
        return None
    annotations = metadata.get("annotations") or {}
    if ANNOTATION_EVAL_ID not in annotations or ANNOTATION_RUN_ID not in annotations:
        return None
    name = metadata["name"] if job is not None else metadata["name"][: -len("-output-pvc")]
    return RunHandle(
        backend=backend,
        eval_id=annotations[ANNOTATION_EVAL_ID],
        run_id=annotations[ANNOTATION_RUN_ID],
        name=name,
        namespace=cluster.namespace,
        cluster=cluster.key,
    )


async def mark(informer: Informer, job: str, state: RunState) -> None:
    _, pods, pvcs = informer.view(job)
    values = {
        OUTCOME: state.status.value,
        REASON: state.reason or "",
        MESSAGE: (state.message or "")[:1000],
        EXIT_CODE: "" if state.exit_code is None else str(state.exit_code),
        FINISHED: "" if state.finished_at is None else repr(state.finished_at),
    }
    if found := digest(pvcs, pods):
        values[DIGEST] = found
    with contextlib.suppress(NotFound):  # cleaned already: nothing left to remember
        await annotate(
            informer.client,
            PersistentVolumeClaim,
            object_names(job).output_pvc,
            informer.namespace,
            values,
        )


def doomed(state: RunState) -> bool:
    return state.reason in DOOMED


async def finalise(informer: Informer, job: str, state: RunState, alive: bool) -> None:
    """Write the run's final word on its output PVC; stop a Job a pod-level failure doomed;
    take the run's key out of the cluster."""
    await mark(informer, job, state)
    if alive and state.status is RunStatus.FAILED and doomed(state):
        await delete_job(informer.client, job, informer.namespace)
    await delete_secret(informer.client, job, informer.namespace)
