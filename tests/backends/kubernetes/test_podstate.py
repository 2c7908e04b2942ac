"""The fate rules of docs/kubernetes-backend.md, on Job/Pod/PVC dicts shaped like the API's own
(field names, timestamps and the Job controller's conditions as a 1.28 API server returns them)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from budeval.backends.kubernetes import podstate
from budeval.status import RunStatus

JOB = "eval-run-1-0a1b2c3d"
T0 = "2024-05-01T10:00:00Z"
EPOCH0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC).timestamp()
LIMIT = 300.0


def at(seconds: int) -> str:
    return datetime.fromtimestamp(EPOCH0 + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def job(*conditions: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": JOB,
            "namespace": "budeval",
            "uid": "5d1c0e5e-1f7c-4c8a-9a53-0c6f0c1d2e3f",
            "resourceVersion": "1234",
            "creationTimestamp": T0,
            "labels": {"app.kubernetes.io/managed-by": "budeval", "budeval.io/job": JOB},
        },
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": 7200, "completions": 1},
        "status": {
            "startTime": T0,
            "uncountedTerminatedPods": {},
            "ready": 0,
            **status,
            **({"conditions": list(conditions)} if conditions else {}),
        },
    }


def condition(kind: str, reason: str | None = None, message: str = "", when: int = 100) -> dict:
    found = {
        "type": kind,
        "status": "True",
        "lastProbeTime": at(when),
        "lastTransitionTime": at(when),
    }
    if reason:
        found |= {"reason": reason, "message": message}
    return found


def pod(
    phase: str,
    state: dict[str, Any] | None = None,
    *,
    last_state: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    created: int = 1,
    name: str = f"{JOB}-x7k2p",
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": phase,
        "qosClass": "Burstable",
        "conditions": conditions
        or [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": at(created)},
            {"type": "Initialized", "status": "True", "lastTransitionTime": at(created)},
        ],
    }
    if phase != "Pending" or state:
        status["startTime"] = at(created + 1)
    if state is not None:
        status["containerStatuses"] = [
            {
                "name": "engine",
                "image": "ghcr.io/budeval/lmeval:0.4.5",
                "imageID": "",
                "ready": "running" in state,
                "restartCount": 0,
                "started": "running" in state,
                "state": state,
                "lastState": last_state or {},
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "budeval",
            "creationTimestamp": at(created),
            "labels": {
                "batch.kubernetes.io/job-name": JOB,
                "job-name": JOB,
                "controller-uid": "5d1c0e5e-1f7c-4c8a-9a53-0c6f0c1d2e3f",
                "app.kubernetes.io/managed-by": "budeval",
            },
        },
        "spec": {"nodeName": "kind-worker"} if phase != "Pending" else {},
        "status": status,
    }


def terminated(code: int, reason: str, message: str | None = None, end: int = 90) -> dict:
    found = {
        "exitCode": code,
        "reason": reason,
        "startedAt": at(5),
        "finishedAt": at(end),
        "containerID": "containerd://abc",
    }
    if message is not None:
        found["message"] = message
    return {"terminated": found}


def pvc(suffix: str, phase: str = "Bound", created: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": f"{JOB}-{suffix}", "creationTimestamp": at(created)},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
        "status": {"phase": phase}
        | ({"capacity": {"storage": "10Gi"}} if phase == "Bound" else {}),
    }


BOUND = [pvc("data-pvc"), pvc("output-pvc")]


def state(job_obj: Any, pods: list, pvcs: list | None = None, now: int = 200) -> Any:
    return podstate.run_state(
        job_obj, pods, BOUND if pvcs is None else pvcs, now=EPOCH0 + now, pvc_pending_seconds=LIMIT
    )


def document(exit_code: int, reason: str | None) -> str:
    return json.dumps(
        {
            "budeval": 1,
            "exit_code": exit_code,
            "reason": reason,
            "files": 2,
            "bytes": 10,
            "digest": "ab" * 32,
        }
    )


def test_complete() -> None:
    done = pod("Succeeded", terminated(0, "Completed", document(0, None)))
    result = state(job(condition("Complete"), succeeded=1, completionTime=at(95)), [done])
    assert result.status is RunStatus.SUCCEEDED
    assert result.exit_code == 0
    assert (result.started_at, result.finished_at) == (EPOCH0, EPOCH0 + 95)


def test_failed_backoff_limit_takes_the_engine_reason() -> None:
    failed = pod("Failed", terminated(1, "Error", document(1, "model endpoint refused: 401")))
    reason = condition(
        "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    )
    result = state(
        job(condition("FailureTarget", "BackoffLimitExceeded"), reason, failed=1), [failed]
    )
    assert result.status is RunStatus.FAILED
    assert result.reason == "BackoffLimitExceeded"
    assert result.message == "model endpoint refused: 401"
    assert result.exit_code == 1
    assert result.finished_at == EPOCH0 + 100


def test_failed_without_a_reason_uses_the_condition_message() -> None:
    failed = pod("Failed", terminated(1, "Error", document(1, None)))
    reason = condition(
        "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    )
    result = state(job(reason, failed=1), [failed])
    assert result.message == "Job has reached the specified backoff limit"


def test_a_plain_termination_message_is_used_as_is_and_shortened() -> None:
    failed = pod("Failed", terminated(2, "Error", "Traceback: boom " + "x" * 2000))
    result = state(job(condition("Failed", "BackoffLimitExceeded", "limit"), failed=1), [failed])
    assert result.message is not None and result.message.startswith("Traceback: boom")
    assert len(result.message) == 500
    assert result.exit_code == 2
    assert podstate.termination_document(failed) is None


def test_deadline_exceeded() -> None:
    killed = pod("Failed", terminated(143, "Error", document(143, None)))
    deadline = condition(
        "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
    )
    result = state(job(deadline, failed=1), [killed])
    assert (result.status, result.reason) == (RunStatus.FAILED, "DeadlineExceeded")
    assert result.message == "Job was active longer than specified deadline"
    assert result.exit_code == 143


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("ImagePullBackOff", 'Back-off pulling image "ghcr.io/budeval/lmeval:nope"'),
        ("CreateContainerConfigError", 'secret "eval-run-1-0a1b2c3d-secret" not found'),
        ("InvalidImageName", 'Failed to apply default image tag "Bad Image"'),
    ],
)
def test_containers_that_can_never_start(reason: str, message: str) -> None:
    waiting = pod("Pending", {"waiting": {"reason": reason, "message": message}})
    result = state(job(active=1), [waiting])
    assert (result.status, result.reason, result.message) == (RunStatus.FAILED, reason, message)
    assert result.finished_at == EPOCH0 + 200


def test_container_creating_is_only_scheduled() -> None:
    creating = pod("Pending", {"waiting": {"reason": "ContainerCreating"}})
    assert state(job(active=1), [creating]).status is RunStatus.SCHEDULED


def test_unschedulable() -> None:
    message = "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available"
    stuck = pod(
        "Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastTransitionTime": at(2),
                "lastProbeTime": None,
            }
        ],
    )
    assert state(job(active=1), [stuck], now=5).status is RunStatus.SCHEDULED  # may free up
    result = state(job(active=1), [stuck], now=2 + 602)  # the default grace is 600 s (+1 s slack)
    assert (result.status, result.reason, result.message) == (
        RunStatus.FAILED,
        "Unschedulable",
        message,
    )


def unbound_claim_pod() -> dict[str, Any]:
    message = "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."
    return pod(
        "Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastTransitionTime": at(1),
            }
        ],
    )


def test_an_unbound_claim_waits_for_the_pvc_limit() -> None:
    pending = [pvc("data-pvc", "Pending"), pvc("output-pvc", "Pending")]
    early = state(job(active=1), [unbound_claim_pod()], pending, now=100)
    assert early.status is RunStatus.SCHEDULED
    late = state(job(active=1), [unbound_claim_pod()], pending, now=int(LIMIT) + 10)
    assert (late.status, late.reason) == (RunStatus.FAILED, "PVCPending")
    assert f"{JOB}-data-pvc" in (late.message or "")


def test_pvc_pending_before_and_beyond_the_limit() -> None:
    pending = [pvc("data-pvc"), pvc("output-pvc", "Pending", created=0)]
    assert state(job(active=1), [], pending, now=299).status is RunStatus.SCHEDULED
    result = state(job(active=1), [], pending, now=301)
    assert (result.status, result.reason) == (RunStatus.FAILED, "PVCPending")
    assert f"{JOB}-output-pvc" in (result.message or "")


def test_oom_killed_in_state() -> None:
    oom = pod("Failed", terminated(137, "OOMKilled"))
    result = state(job(active=0), [oom])  # the Job controller has not marked the Job yet
    assert (result.status, result.reason, result.exit_code) == (RunStatus.FAILED, "OOMKilled", 137)


def test_oom_killed_in_last_state() -> None:
    restarted = pod(
        "Running",
        {"running": {"startedAt": at(50)}},
        last_state=terminated(137, "OOMKilled"),
    )
    result = state(job(active=1), [restarted])
    assert (result.status, result.reason) == (RunStatus.FAILED, "OOMKilled")


def test_oom_killed_refines_backoff_limit_exceeded() -> None:
    oom = pod("Failed", terminated(137, "OOMKilled"))
    failed = job(condition("Failed", "BackoffLimitExceeded", "limit"), failed=1)
    assert state(failed, [oom]).reason == "OOMKilled"


def test_oom_killed_with_retries_left_waits_for_the_retry() -> None:
    retrying = job(active=0, failed=1)
    retrying["spec"]["backoffLimit"] = 2
    oom = pod("Failed", terminated(137, "OOMKilled"))
    assert state(retrying, [oom]).status is RunStatus.RUNNING


def test_running() -> None:
    running = pod("Running", {"running": {"startedAt": at(7)}})
    result = state(job(active=1, ready=1), [running])
    assert result.status is RunStatus.RUNNING
    assert result.started_at == EPOCH0 + 7


def test_scheduled_without_a_pod_and_with_a_pending_pod() -> None:
    assert state(job(active=1), []).status is RunStatus.SCHEDULED
    assert state(job(active=1), [pod("Pending")]).status is RunStatus.SCHEDULED


def test_missing_job() -> None:
    result = state(None, [], [])
    assert (result.status, result.reason) == (RunStatus.FAILED, "JobMissing")


def test_pods_of_other_jobs_are_ignored() -> None:
    reader = pod("Failed", terminated(137, "OOMKilled"), name="read-x-1234")
    for key in ("job-name", "batch.kubernetes.io/job-name"):
        reader["metadata"]["labels"][key] = "read-eval-run-1-0a1b2c3d-12345678"
    running = pod("Running", {"running": {"startedAt": at(7)}})
    assert state(job(active=1), [reader, running]).status is RunStatus.RUNNING


def test_newest_pod_and_conditions() -> None:
    old, new = pod("Failed", created=1, name="a"), pod("Running", created=50, name="b")
    assert podstate.newest([old, new])["metadata"]["name"] == "b"
    assert podstate.job_condition(job(condition("Failed", "DeadlineExceeded")), "Failed")
    assert not podstate.job_condition(job(), "Failed")


def test_termination_document() -> None:
    done = pod("Succeeded", terminated(0, "Completed", document(0, None)))
    assert podstate.termination_document(done) == json.loads(document(0, None))
    assert podstate.termination_document(pod("Running", {"running": {}})) is None


def test_job_details() -> None:
    running = pod("Running", {"running": {"startedAt": at(7)}})
    details = podstate.job_details(job(active=1), [running], [pvc("data-pvc")])
    assert details == {
        "status": "running",
        "phase": "Running",
        "active": 1,
        "succeeded": 0,
        "failed": 0,
        "pod_count": 1,
        "data_pvc_status": "Bound",
        "output_pvc_status": "Missing",
    }
    empty = podstate.job_details(None, [], [])
    assert (empty["status"], empty["phase"], empty["pod_count"]) == ("failed", "Unknown", 0)


def test_inputs_are_not_modified() -> None:
    pods = [pod("Failed", terminated(137, "OOMKilled"))]
    before = copy.deepcopy(pods)
    state(job(active=0), pods)
    assert pods == before


def test_a_failed_job_waits_for_its_pods_own_failure_to_name_the_reason() -> None:
    """Jobs and Pods arrive by separate watches: a Job marked failed while its pod still looks
    Running must not end the run as BackoffLimitExceeded when the pod will say OOMKilled."""
    failed_job = job(condition("Failed", "BackoffLimitExceeded", "limit"), failed=1)
    stale = pod("Running")
    assert state(failed_job, [stale]).status is RunStatus.RUNNING
    oom = pod("Failed", terminated(137, "OOMKilled"))
    assert (state(failed_job, [oom]).status, state(failed_job, [oom]).reason) == (
        RunStatus.FAILED,
        "OOMKilled",
    )
    assert state(failed_job, []).reason == "BackoffLimitExceeded"  # no pod left to wait for
