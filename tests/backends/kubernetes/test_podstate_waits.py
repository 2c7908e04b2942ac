"""Waits that are not failures: capacity, volumes, a first failed pull (issue 8 items 11 to 13).

The messages are the real ones: the v1.20 scheduler (and newer, with a `preemption:` tail) and
the kubelet's ErrImagePull → ImagePullBackOff sequence.
"""

from __future__ import annotations

from typing import Any

import pytest

from budeval.backends.kubernetes import podstate
from budeval.status import RunStatus
from tests.backends.kubernetes.test_podstate import BOUND, EPOCH0, LIMIT, at, job, pod, pvc

GRACE = 600.0


def waiting_for_node(message: str, since: int = 2, reason: str = "Unschedulable") -> dict:
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": at(since),
        "lastProbeTime": None,
    }
    return pod("Pending", conditions=[condition])


def state(pods: list, now: float, pvcs: list | None = None, **status: Any) -> Any:
    return podstate.run_state(
        job(**(status or {"active": 1})),
        pods,
        BOUND if pvcs is None else pvcs,
        now=EPOCH0 + now,
        pvc_pending_seconds=LIMIT,
        unschedulable_seconds=GRACE,
    )


CAPACITY = [
    "0/1 nodes are available: 1 Insufficient cpu.",  # v1.20
    "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had taint "
    "{node-role.kubernetes.io/master: }, that the pod didn't tolerate.",
    "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
    "2 No preemption victims found for incoming pod.",  # v1.27+
]


@pytest.mark.parametrize("message", CAPACITY)
def test_a_capacity_shortage_waits_for_the_grace_period(message: str) -> None:
    stuck = waiting_for_node(message, since=2)
    early = podstate.run_state(
        job(active=1), [stuck], BOUND, now=EPOCH0 + 5, pvc_pending_seconds=LIMIT
    )  # the default grace (10 minutes) applies
    assert early.status is RunStatus.SCHEDULED
    assert state([stuck], now=2 + GRACE - 1).status is RunStatus.SCHEDULED
    late = state([stuck], now=2 + GRACE + 2)  # +1 s: timestamps have whole seconds
    assert (late.status, late.reason, late.message) == (RunStatus.FAILED, "Unschedulable", message)


VOLUME_WAITS = [
    "0/1 nodes are available: 1 node(s) didn't find available persistent volumes to bind.",
    "0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims.",
    'persistentvolumeclaim "eval-run-1-0a1b2c3d-data-pvc" not found',
    'persistentvolumeclaim "eval-run-1-0a1b2c3d-data-pvc" is being deleted',
    "0/3 nodes are available: 3 node(s) had volume node affinity conflict.",
    "0/1 nodes are available: 1 node(s) unavailable due to one or more pvc(s) bound to "
    "non-existent pv(s).",
    "0/1 nodes are available: 1 node(s) didn't find available persistent volumes to bind. "
    "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
    "waiting for first consumer to be created before binding",
]


@pytest.mark.parametrize("message", VOLUME_WAITS)
def test_a_volume_wait_gets_the_pvc_grace_period(message: str) -> None:
    stuck = waiting_for_node(message, since=1)
    assert state([stuck], now=LIMIT - 10).status is RunStatus.SCHEDULED
    late = state([stuck], now=LIMIT + 10)
    assert (late.status, late.reason) == (RunStatus.FAILED, "PVCPending")


def test_a_volume_wait_is_classified_whatever_the_pvcs_say() -> None:
    """The claims may be Bound while the pod still cannot find a node for their volumes."""
    message = "0/3 nodes are available: 3 node(s) had volume node affinity conflict."
    stuck = waiting_for_node(message, since=1)
    assert state([stuck], now=5, pvcs=[pvc("data-pvc"), pvc("output-pvc")]).status is (
        RunStatus.SCHEDULED
    )


def pulling(reason: str, message: str) -> dict:
    return pod("Pending", {"waiting": {"reason": reason, "message": message}})


def test_a_first_failed_pull_is_not_a_failure() -> None:
    first = pulling(
        "ErrImagePull",
        'rpc error: code = Unknown desc = failed to pull and unpack image "ghcr.io/x/y:1": '
        "failed to do request: dial tcp: i/o timeout",
    )
    assert state([first], now=5).status is RunStatus.SCHEDULED


def test_image_pull_back_off_fails_the_run() -> None:
    message = 'Back-off pulling image "ghcr.io/budeval/lmeval:nope"'
    result = state([pulling("ImagePullBackOff", message)], now=5)
    assert (result.status, result.reason, result.message) == (
        RunStatus.FAILED,
        "ImagePullBackOff",
        message,
    )


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("InvalidImageName", 'Failed to apply default image tag "Bad Image"'),
        ("ErrImageNeverPull", 'Container image "x:1" is not present with pull policy of Never'),
        ("CreateContainerConfigError", 'secret "eval-run-1-0a1b2c3d-secret" not found'),
    ],
)
def test_definite_errors_stay_fatal_at_once(reason: str, message: str) -> None:
    result = state([pulling(reason, message)], now=5)
    assert (result.status, result.reason) == (RunStatus.FAILED, reason)


def test_a_job_that_gets_no_pod_fails_after_the_grace_period() -> None:
    """An admission refusal (unknown PriorityClass, quota): the Job controller creates no pod."""
    assert state([], now=GRACE - 10, active=0).status is RunStatus.SCHEDULED
    late = state([], now=GRACE + 10, active=0)
    assert (late.status, late.reason) == (RunStatus.FAILED, "PodNotCreated")
    created = state([], now=GRACE + 10, active=1)  # the pod exists; the cache lags
    assert created.status is RunStatus.SCHEDULED
