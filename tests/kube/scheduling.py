"""The scheduler's one capacity rule here: a pod whose CPU request exceeds the node's CPU.

The answer is the v1.20 scheduler's message (`0/1 nodes are available: 1 Insufficient cpu.`),
which `podstatus.unschedulable` puts on the pod's PodScheduled condition.
"""

from __future__ import annotations

from typing import Any

INSUFFICIENT_CPU = "0/1 nodes are available: 1 Insufficient cpu."


def millicores(quantity: str | int | float | None) -> int:
    if quantity in (None, ""):
        return 0
    text = str(quantity)
    if text.endswith("m"):
        return int(float(text[:-1]))
    return int(float(text) * 1000)


def cpu_request(pod: dict[str, Any]) -> int:
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        total += millicores(requests.get("cpu", limits.get("cpu")))
    return total


def shortage(pod: dict[str, Any], node_cpu: str | None) -> str | None:
    """The scheduler's message when the pod cannot fit the node, else None."""
    if node_cpu is None or cpu_request(pod) <= millicores(node_cpu):
        return None
    return INSUFFICIENT_CPU
