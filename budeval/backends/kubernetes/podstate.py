"""The fate of a run, read from its Job, its Pods and its PVCs (docs: "Fate of a run").

Pure: the informer's cached objects (plain dicts as the API returns them) and the time go in, a
`RunState` comes out, so every rule is tested with recorded objects and no cluster. Some failures
never end on their own (an image that cannot be pulled, a pod no node can take, a volume that never
binds): the Job would wait or retry forever, so they fail the run at once. Cancellation is not seen
here; the backend knows when it deleted a Job on purpose.
"""

from __future__ import annotations

import json
from typing import Any

from budeval.backends.base import RunState
from budeval.backends.kubernetes import waits
from budeval.backends.kubernetes.kubeobj import MESSAGE_MAX, Obj, parse_time
from budeval.backends.kubernetes.kubeobj import condition as _condition
from budeval.backends.kubernetes.kubeobj import created as _created
from budeval.backends.kubernetes.kubeobj import failed as _failed
from budeval.backends.kubernetes.kubeobj import status as _status
from budeval.status import RunStatus

FATAL_WAITING = frozenset(
    {"ImagePullBackOff", "CreateContainerConfigError", "InvalidImageName", "ErrImageNeverPull"}
)
"""Waiting reasons that fail a run at once. `ErrImagePull` is not one: a first pull often fails
for a moment (registry hiccup, network); the kubelet then reports `ImagePullBackOff` while it
waits to pull again, and that is where budeval gives up (docs: "Fate of a run")."""
ENGINE_CONTAINER = "engine"
JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")


def _containers(pod: Obj) -> list[Obj]:
    status = _status(pod)
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _engine_status(pod: Obj) -> Obj | None:
    statuses = _status(pod).get("containerStatuses") or []
    named = [status for status in statuses if status.get("name") == ENGINE_CONTAINER]
    return (named or statuses or [None])[0]


def _terminated(pod: Obj) -> Obj | None:
    status = _engine_status(pod) or {}
    for key in ("state", "lastState"):
        terminated = (status.get(key) or {}).get("terminated")
        if terminated:
            return terminated
    return None


def _termination_text(pod: Obj) -> str | None:
    message = ((_terminated(pod) or {}).get("message") or "").strip()
    return message or None


def termination_document(pod: Obj) -> dict[str, Any] | None:
    """The JSON document `kube_job.py` left as the engine container's termination message."""
    text = _termination_text(pod)
    if text is None or not text.startswith("{"):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) and "budeval" in document else None


def _engine_reason(pod: Obj | None) -> str | None:
    """The engine's one-line reason, or a plain (non-budeval) termination message, shortened."""
    if pod is None:
        return None
    document = termination_document(pod)
    if document is not None:
        reason = document.get("reason")
        return str(reason)[:MESSAGE_MAX] if reason else None
    text = _termination_text(pod)
    return text[:MESSAGE_MAX] if text else None


def _exit_code(pod: Obj | None) -> int | None:
    if pod is None:
        return None
    document = termination_document(pod)
    if document is not None and isinstance(document.get("exit_code"), int):
        return int(document["exit_code"])
    code = (_terminated(pod) or {}).get("exitCode")
    return code if isinstance(code, int) else None


def job_condition(job: Obj, kind: str) -> bool:
    """Whether the Job has condition `kind` (`Complete`, `Failed`) with status True."""
    return (_condition(job, kind) or {}).get("status") == "True"


def newest(pods: list[Obj]) -> Obj:
    """The most recently created pod (ValueError when there is none)."""
    return max(pods, key=_created)


def _own_pods(job: Obj, pods: list[Obj]) -> list[Obj]:
    """The Job's pods, newest first (the reader Job's pods carry the same budeval labels)."""
    name = (job.get("metadata") or {}).get("name")
    own = [
        pod
        for pod in pods
        if all(
            ((pod.get("metadata") or {}).get("labels") or {}).get(label, name) == name
            for label in JOB_NAME_LABELS
        )
    ]
    return sorted(own, key=_created, reverse=True)


def _oom_killed(pod: Obj, *, final: bool) -> bool:
    """OOMKilled in lastState (restarted in place), or in state when no retry will follow."""
    for status in _containers(pod):
        if ((status.get("lastState") or {}).get("terminated") or {}).get("reason") == "OOMKilled":
            return True
        if (
            final
            and ((status.get("state") or {}).get("terminated") or {}).get("reason") == "OOMKilled"
        ):
            return True
    return False


def _no_retry_left(job: Obj, pods: list[Obj]) -> bool:
    failed = max(
        int(_status(job).get("failed") or 0),
        sum(_status(pod).get("phase") == "Failed" for pod in pods),
    )
    return failed > int((job.get("spec") or {}).get("backoffLimit", 6))


def _finished(job: Obj, pods: list[Obj], started: float | None) -> RunState | None:
    newest = pods[0] if pods else None
    fields = {"started_at": started, "exit_code": _exit_code(newest)}
    complete = _condition(job, "Complete")
    if complete and complete.get("status") == "True":
        finished = parse_time(
            _status(job).get("completionTime") or complete.get("lastTransitionTime")
        )
        fields["exit_code"] = fields["exit_code"] or 0
        return RunState(status=RunStatus.SUCCEEDED, finished_at=finished, **fields)
    failed = _condition(job, "Failed")
    if not failed or failed.get("status") != "True":
        return None
    finished = parse_time(failed.get("lastTransitionTime"))
    reason = failed.get("reason") or "JobFailed"
    if (
        reason == "BackoffLimitExceeded"
        and newest
        and _status(newest).get("phase")
        not in (
            "Failed",
            "Succeeded",
        )
    ):
        return None  # Jobs and Pods come by separate watches: wait for the pod's own failure
    if reason == "BackoffLimitExceeded" and newest and _oom_killed(newest, final=True):
        reason = "OOMKilled"
    message = _engine_reason(newest) or failed.get("message")
    return _failed(reason, message, finished_at=finished, **fields)


def _stuck(pods: list[Obj], *, final: bool, started: float | None, now: float) -> RunState | None:
    """A pod that cannot get anywhere: unpullable image, bad config, no memory, no node."""
    for pod in pods:
        for status in _containers(pod):
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in FATAL_WAITING:
                message = waiting.get("message") or f"container {status.get('name')} cannot start"
                return _failed(waiting["reason"], message, started_at=started, finished_at=now)
    if pods and _oom_killed(pods[0], final=final):
        message = f"the engine ran out of memory: {_engine_reason(pods[0]) or 'OOMKilled'}"
        code = _exit_code(pods[0])
        return _failed("OOMKilled", message, exit_code=code, started_at=started, finished_at=now)
    return None


def _pod_started(pod: Obj) -> float | None:
    running = ((_engine_status(pod) or {}).get("state") or {}).get("running") or {}
    return parse_time(running.get("startedAt") or _status(pod).get("startTime"))


def run_state(
    job: Obj | None,
    pods: list[Obj],
    pvcs: list[Obj],
    *,
    now: float,
    pvc_pending_seconds: float,
    unschedulable_seconds: float = waits.UNSCHEDULABLE_SECONDS,
) -> RunState:
    """The run's state by the rules of docs/kubernetes-backend.md, "Fate of a run"."""
    if job is None:
        return _failed("JobMissing", "the run's Job does not exist", finished_at=now)
    pods = _own_pods(job, pods)
    started = parse_time(_status(job).get("startTime"))
    final = _no_retry_left(job, pods)
    for rule in (
        lambda: _finished(job, pods, started),
        lambda: _stuck(pods, final=final, started=started, now=now),
        lambda: waits.pvc_pending(pods, pvcs, now=now, limit=pvc_pending_seconds),
        lambda: waits.unschedulable(pods, now, unschedulable_seconds),
        lambda: waits.no_pod(job, pods, now, unschedulable_seconds),
    ):
        state = rule()
        if state is not None:
            return state
    phases = {_status(pod).get("phase") for pod in pods}
    if phases & {"Running", "Succeeded", "Failed"}:  # Succeeded/Failed: the Job is catching up
        running = [pod for pod in pods if _status(pod).get("phase") == "Running"]
        began = _pod_started(running[0]) if running else None
        return RunState(status=RunStatus.RUNNING, started_at=began or started)
    return RunState(status=RunStatus.SCHEDULED, started_at=None)


def _pvc_phase(pvcs: list[Obj], suffix: str) -> str:
    for pvc in pvcs:
        if str((pvc.get("metadata") or {}).get("name", "")).endswith(suffix):
            return str(_status(pvc).get("phase") or "Pending")
    return "Missing"


def job_details(
    job: Obj | None,
    pods: list[Obj],
    pvcs: list[Obj],
    *,
    now: float | None = None,
    pvc_pending_seconds: float = 300.0,
) -> dict[str, Any]:
    """The seeds' status shape of one run; without `now` the PVC time limit is not applied."""
    pods = _own_pods(job, pods) if job is not None else sorted(pods, key=_created, reverse=True)
    moment = float("-inf") if now is None else now
    state = run_state(job, pods, pvcs, now=moment, pvc_pending_seconds=pvc_pending_seconds)
    counts = _status(job)
    return {
        "status": state.status.value,
        "phase": str(_status(pods[0]).get("phase") or "Unknown") if pods else "Unknown",
        "active": int(counts.get("active") or 0),
        "succeeded": int(counts.get("succeeded") or 0),
        "failed": int(counts.get("failed") or 0),
        "pod_count": len(pods),
        "data_pvc_status": _pvc_phase(pvcs, "-data-pvc"),
        "output_pvc_status": _pvc_phase(pvcs, "-output-pvc"),
    }
