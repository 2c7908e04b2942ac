"""PersistentVolumeClaim binding and the local directories that stand in for volumes.

A claim is created Pending and bound right after (on the server loop) unless binding is off or
its class is unbindable or missing. `eval-datasets-pvc` maps to one shared datasets directory.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from tests.kube.store import Event, Store

DATASETS_CLAIM = "eval-datasets-pvc"


class Volumes:
    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root
        self.datasets_dir = root / "datasets"
        self.bind_pvcs = True
        self.unbindable_classes: set[str] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.store.subscribe(self._listener)

    def close(self) -> None:
        self.store.unsubscribe(self._listener)

    def volume_dir(self, namespace: str, claim: str) -> Path:
        if claim == DATASETS_CLAIM:
            path = Path(self.datasets_dir)
        else:
            path = self.root / "volumes" / namespace / claim
        with self._lock:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def _listener(self, event: Event) -> None:
        if self._loop is None:
            return
        if event.plural == "persistentvolumeclaims" and event.type == "ADDED":
            name = event.obj["metadata"]["name"]
            self._loop.call_soon_threadsafe(self.try_bind, event.namespace, name)
        elif event.plural == "storageclasses" and event.type != "DELETED":
            self._loop.call_soon_threadsafe(self.bind_pending)

    def bind_pending(self) -> None:
        claims, _ = self.store.list("persistentvolumeclaims")
        for claim in claims:
            self.try_bind(claim["metadata"]["namespace"], claim["metadata"]["name"])

    def try_bind(self, namespace: str, name: str) -> bool:
        with self.store.lock:
            claim = self.store.get("persistentvolumeclaims", namespace, name)
            if claim is None or (claim.get("status") or {}).get("phase") != "Pending":
                return False
            if not self.bind_pvcs:
                return False
            cls = (claim.get("spec") or {}).get("storageClassName")
            if cls in self.unbindable_classes:
                return False
            if cls and self.store.get("storageclasses", "", cls) is None:
                return False
            self.store.mutate("persistentvolumeclaims", namespace, name, _bind)
            return True


def _bind(claim: dict[str, Any]) -> None:
    spec = claim.setdefault("spec", {})
    spec["volumeName"] = f"pvc-{claim['metadata']['uid']}"
    requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    claim["status"] = {
        "phase": "Bound",
        "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
        "capacity": {"storage": requested},
    }
    annotations = claim["metadata"].setdefault("annotations", {})
    annotations["pv.kubernetes.io/bind-completed"] = "yes"
