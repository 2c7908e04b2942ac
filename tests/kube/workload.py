"""The kubelet, volume and log controls of `KubeApiServer`, kept apart to keep modules small.

Each method delegates to the kubelet, the volume binder or the log store; all are thread-safe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.kube.cluster import Cluster
from tests.kube.kubelet import Kubelet


class WorkloadMixin:
    cluster: Cluster
    kubelet: Kubelet

    # -- kubelet ----------------------------------------------------------------------------
    @property
    def kubelet_mode(self) -> str:
        return self.kubelet.mode

    @kubelet_mode.setter
    def kubelet_mode(self, mode: str) -> None:
        self.kubelet.mode = mode

    @property
    def missing_images(self) -> set[str]:
        return self.kubelet.missing_images

    @property
    def flaky_pulls(self) -> dict[str, int]:
        """image → how many of its pulls fail (ErrImagePull) before one succeeds (run mode)."""
        return self.kubelet.flaky_pulls

    @property
    def node_cpu(self) -> str | None:
        return self.kubelet.node_cpu

    @node_cpu.setter
    def node_cpu(self, value: str | None) -> None:
        """The node's CPU: a pod requesting more stays Pending, `Insufficient cpu` (run mode)."""
        self.kubelet.node_cpu = value

    def schedule(self, namespace: str, pod: str) -> dict[str, Any]:
        return self.kubelet.schedule(namespace, pod)

    def succeed(self, namespace: str, pod: str, message: str = "") -> dict[str, Any]:
        return self.kubelet.succeed(namespace, pod, message)

    def fail(
        self, namespace: str, pod: str, exit_code: int = 1, reason: str = "Error", message: str = ""
    ) -> dict[str, Any]:
        return self.kubelet.fail(namespace, pod, exit_code, reason, message)

    def oom(self, namespace: str, pod: str) -> dict[str, Any]:
        return self.kubelet.oom(namespace, pod)

    def image_pull_backoff(self, namespace: str, pod: str, message: str = "") -> dict[str, Any]:
        return self.kubelet.image_pull_backoff(namespace, pod, message)

    def err_image_pull(self, namespace: str, pod: str, message: str = "") -> dict[str, Any]:
        return self.kubelet.err_image_pull(namespace, pod, message)

    def create_container_config_error(
        self, namespace: str, pod: str, message: str = 'secret "missing" not found'
    ) -> dict[str, Any]:
        return self.kubelet.create_container_config_error(namespace, pod, message)

    def unschedulable(
        self,
        namespace: str,
        pod: str,
        message: str = "0/1 nodes are available: 1 Insufficient cpu.",
    ) -> dict[str, Any]:
        return self.kubelet.unschedulable(namespace, pod, message)

    # -- logs -------------------------------------------------------------------------------
    def kubelet_unreachable(
        self, namespace: str | None = None, pod: str | None = None, node: str | None = None
    ) -> None:
        """pods/log answers 500 (no route to the kubelet) for this pod, or every pod of `node`."""
        if node is not None:
            self.cluster.faults.unreachable_nodes.add(node)
        if pod is not None:
            self.cluster.faults.unreachable_pods.add((namespace or "", pod))

    def kubelet_reachable(self) -> None:
        self.cluster.faults.unreachable_nodes.clear()
        self.cluster.faults.unreachable_pods.clear()

    def set_log(self, namespace: str, pod: str, text: str) -> None:
        self.cluster.logs.set(namespace, pod, text)

    def append_log(self, namespace: str, pod: str, text: str) -> None:
        self.cluster.logs.append(namespace, pod, text)

    def log_text(self, namespace: str, pod: str) -> str:
        return self.cluster.logs.text(namespace, pod)

    # -- volumes ----------------------------------------------------------------------------
    @property
    def bind_pvcs(self) -> bool:
        return self.cluster.volumes.bind_pvcs

    @bind_pvcs.setter
    def bind_pvcs(self, value: bool) -> None:
        self.cluster.volumes.bind_pvcs = value
        if value:
            self.cluster.volumes.bind_pending()

    @property
    def unbindable_classes(self) -> set[str]:
        return self.cluster.volumes.unbindable_classes

    @property
    def datasets_dir(self) -> Path:
        return self.cluster.volumes.datasets_dir

    @datasets_dir.setter
    def datasets_dir(self, path: Path | str) -> None:
        self.cluster.volumes.datasets_dir = Path(path)

    def volume_dir(self, namespace: str, claim: str) -> Path:
        return self.cluster.volumes.volume_dir(namespace, claim)
