"""Pod status transitions a kubelet and scheduler would write, as `Store.mutate` edits.

Pure dict edits, shared by the manual kubelet (test-driven) and the run-mode kubelet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.kube.defaults import now_rfc3339

NODE = "kube-test-node"
Change = Callable[[dict[str, Any]], None]


def _condition(status: dict[str, Any], kind: str, value: str, **extra: str) -> None:
    """Set a condition; an unchanged one keeps its transition time (so no spurious write)."""
    existing = [c for c in status.get("conditions") or [] if c.get("type") == kind]
    if (
        existing
        and existing[0].get("status") == value
        and all(existing[0].get(k) == v for k, v in extra.items())
    ):
        return
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    conditions.append(
        {"type": kind, "status": value, "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}
        | extra
    )
    status["conditions"] = conditions


def _container_statuses(pod: dict[str, Any], state: dict[str, Any], ready: bool) -> None:
    status = pod.setdefault("status", {})
    previous = {c["name"]: c for c in status.get("containerStatuses") or []}
    result = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        name = container.get("name", "")
        entry = {
            "name": name,
            "image": container.get("image", ""),
            "imageID": "",
            "ready": ready,
            "restartCount": previous.get(name, {}).get("restartCount", 0),
            "started": "running" in state,
            "state": state,
            "lastState": previous.get(name, {}).get("lastState", {}),
        }
        if "waiting" not in state:
            entry["containerID"] = f"containerd://{pod['metadata'].get('uid', '')[:12]}"
        result.append(entry)
    status["containerStatuses"] = result


def schedule(pod: dict[str, Any]) -> None:
    pod.setdefault("spec", {})["nodeName"] = NODE
    status = pod.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("startTime", now_rfc3339())
    status.setdefault("hostIP", "10.0.0.1")
    _condition(status, "PodScheduled", "True")
    _condition(status, "Initialized", "True")


def _ensure_scheduled(pod: dict[str, Any]) -> None:
    scheduled = any(
        c.get("type") == "PodScheduled" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )
    if not scheduled:
        schedule(pod)


def start(pod: dict[str, Any]) -> None:
    _ensure_scheduled(pod)
    status = pod["status"]
    status["phase"] = "Running"
    status["podIP"] = "10.244.0.10"
    _condition(status, "ContainersReady", "True")
    _condition(status, "Ready", "True")
    _container_statuses(pod, {"running": {"startedAt": now_rfc3339()}}, ready=True)


def terminate(exit_code: int, reason: str, message: str = "") -> Change:
    def change(pod: dict[str, Any]) -> None:
        _ensure_scheduled(pod)
        status = pod["status"]
        started = now_rfc3339()
        for entry in status.get("containerStatuses") or []:
            started = (entry.get("state", {}).get("running") or {}).get("startedAt", started)
        terminated: dict[str, Any] = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": now_rfc3339(),
        }
        if message:
            terminated["message"] = message
        status["phase"] = "Succeeded" if exit_code == 0 else "Failed"
        _condition(status, "ContainersReady", "False", reason="PodCompleted")
        _condition(status, "Ready", "False", reason="PodCompleted")
        _container_statuses(pod, {"terminated": terminated}, ready=False)

    return change


def waiting(reason: str, message: str) -> Change:
    def change(pod: dict[str, Any]) -> None:
        _ensure_scheduled(pod)
        status = pod["status"]
        status["phase"] = "Pending"
        _condition(status, "ContainersReady", "False", reason="ContainersNotReady")
        _condition(status, "Ready", "False", reason="ContainersNotReady")
        _container_statuses(pod, {"waiting": {"reason": reason, "message": message}}, ready=False)

    return change


def unschedulable(message: str) -> Change:
    def change(pod: dict[str, Any]) -> None:
        status = pod.setdefault("status", {})
        status["phase"] = "Pending"
        _condition(status, "PodScheduled", "False", reason="Unschedulable", message=message)

    return change


def container_state(pod: dict[str, Any]) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return statuses[0].get("state", {}) if statuses else {}


def is_terminal(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
