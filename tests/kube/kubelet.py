"""The simulated kubelet: test-driven pod transitions ("manual") or real local processes ("run").

Manual methods are thread-safe store edits. In run mode the kubelet reacts on the server loop
to new pods (and to claims, secrets and config maps a parked pod waits for) and hands each pod
to `runner.PodRunner`. The mode may change at any time; switching to "run" picks up pods that
are still Pending and were never started.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tests.kube import podstatus
from tests.kube.cluster import Cluster
from tests.kube.store import Event

log = logging.getLogger(__name__)
MODES = ("manual", "run")
RETRY_ON = ("persistentvolumeclaims", "secrets", "configmaps")


class Kubelet:
    def __init__(self, cluster: Cluster, mode: str = "manual") -> None:
        if mode not in MODES:
            raise ValueError(f"kubelet mode must be one of {MODES}")
        self.cluster = cluster
        self.store = cluster.store
        self._mode = mode
        self.missing_images: set[str] = set()
        """Images no registry has: ErrImagePull, then ImagePullBackOff for good."""
        self.flaky_pulls: dict[str, int] = {}
        """image → how many pulls fail (ErrImagePull) before one succeeds."""
        self.pull_backoff_seconds = 0.1
        self._node_cpu: str | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runner: Any = None

    # -- lifecycle (server loop) ------------------------------------------------------------
    def attach(self, loop: asyncio.AbstractEventLoop, runner: Any) -> None:
        self.loop, self.runner = loop, runner
        self.store.subscribe(self._listener)

    def close(self) -> None:
        self.store.unsubscribe(self._listener)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"kubelet mode must be one of {MODES}")
        self._mode = value
        if value == "run" and self.loop is not None:
            self.loop.call_soon_threadsafe(self._scan)

    @property
    def node_cpu(self) -> str | None:
        """The node's allocatable CPU (`"1"`, `"500m"`); None: unlimited."""
        return self._node_cpu

    @node_cpu.setter
    def node_cpu(self, value: str | None) -> None:
        self._node_cpu = value
        if self.loop is not None:  # pods that did not fit may fit now
            self.loop.call_soon_threadsafe(self._scan)

    def take_pull_failure(self, image: str) -> bool:
        """Whether this pull of `image` fails (one flaky failure used up)."""
        left = self.flaky_pulls.get(image, 0)
        if left > 0:
            self.flaky_pulls[image] = left - 1
        return left > 0

    def _listener(self, event: Event) -> None:
        if self.loop is None:
            return
        if event.plural == "pods" and event.type in ("ADDED", "DELETED"):
            self.loop.call_soon_threadsafe(self._on_pod, event)
        elif event.plural in RETRY_ON and event.type != "DELETED" and self._mode == "run":
            self.loop.call_soon_threadsafe(self._scan)

    def _on_pod(self, event: Event) -> None:
        meta = event.obj["metadata"]
        if event.type == "DELETED":
            self.runner.kill(meta["namespace"], meta["name"])
        elif self._mode == "run":
            self.runner.launch(meta["namespace"], meta["name"])

    def _scan(self) -> None:
        if self._mode != "run":
            return
        pods, _ = self.store.list("pods")
        for pod in pods:
            if (pod.get("status") or {}).get("phase") == "Pending":
                self.runner.launch(pod["metadata"]["namespace"], pod["metadata"]["name"])

    # -- manual transitions (any thread) ----------------------------------------------------
    def _edit(self, namespace: str, pod: str, change: podstatus.Change) -> dict[str, Any]:
        result = self.store.mutate("pods", namespace, pod, change)
        if result is None:
            raise LookupError(f"pod {namespace}/{pod} not found")
        return result

    def _image(self, namespace: str, pod: str) -> str:
        found = self.store.get("pods", namespace, pod) or {}
        containers = (found.get("spec") or {}).get("containers") or [{}]
        return containers[0].get("image", "")

    def schedule(self, namespace: str, pod: str) -> dict[str, Any]:
        return self._edit(namespace, pod, podstatus.schedule)

    def start(self, namespace: str, pod: str) -> dict[str, Any]:
        return self._edit(namespace, pod, podstatus.start)

    def succeed(self, namespace: str, pod: str, message: str = "") -> dict[str, Any]:
        return self._edit(namespace, pod, podstatus.terminate(0, "Completed", message))

    def fail(
        self, namespace: str, pod: str, exit_code: int = 1, reason: str = "Error", message: str = ""
    ) -> dict[str, Any]:
        return self._edit(namespace, pod, podstatus.terminate(exit_code, reason, message))

    def oom(self, namespace: str, pod: str) -> dict[str, Any]:
        return self.fail(namespace, pod, 137, "OOMKilled")

    def image_pull_backoff(self, namespace: str, pod: str, message: str = "") -> dict[str, Any]:
        text = message or f'Back-off pulling image "{self._image(namespace, pod)}"'
        return self._edit(namespace, pod, podstatus.waiting("ImagePullBackOff", text))

    def err_image_pull(self, namespace: str, pod: str, message: str = "") -> dict[str, Any]:
        image = self._image(namespace, pod)
        text = message or (
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
            "not found"
        )
        return self._edit(namespace, pod, podstatus.waiting("ErrImagePull", text))

    def create_container_config_error(
        self, namespace: str, pod: str, message: str = 'secret "missing" not found'
    ) -> dict[str, Any]:
        change = podstatus.waiting("CreateContainerConfigError", message)
        return self._edit(namespace, pod, change)

    def unschedulable(
        self,
        namespace: str,
        pod: str,
        message: str = "0/1 nodes are available: 1 Insufficient cpu.",
    ) -> dict[str, Any]:
        return self._edit(namespace, pod, podstatus.unschedulable(message))
