"""The server's parts wired together, shared by the HTTP app and the simulated actors.

Built in the server thread's loop (`start`), because the controller, binder and watches post
work onto that loop. Holds no logic of its own beyond seeding the initial objects.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.kube.access import AccessRules
from tests.kube.api import Api
from tests.kube.faults import Faults, RequestCounter
from tests.kube.logs import PodLogs
from tests.kube.resources import TYPES
from tests.kube.store import Event, Store
from tests.kube.volumes import Volumes
from tests.kube.watch import DROP, EXPIRE, WatchHub

INITIAL = [
    ("namespaces", {"metadata": {"name": "default"}}),
    ("namespaces", {"metadata": {"name": "budeval"}}),
    ("namespaces", {"metadata": {"name": "kube-system"}}),
    (
        "storageclasses",
        {
            "metadata": {
                "name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "rancher.io/local-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        },
    ),
    *(
        ("priorityclasses", {"metadata": {"name": name}, "value": value, "globalDefault": False})
        for name, value in (
            ("system-cluster-critical", 2000000000),
            ("system-node-critical", 2000001000),
        )
    ),
    (
        "storageclasses",
        {
            "metadata": {"name": "local-path"},
            "provisioner": "rancher.io/local-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        },
    ),
]


class Cluster:
    def __init__(self, root: Path, history_limit: int, seed: int) -> None:
        self.store = Store(history_limit)
        self.api = Api(self.store)
        self.logs = PodLogs()
        self.hub = WatchHub()
        self.faults = Faults(seed)
        self.requests = RequestCounter()
        self.access = AccessRules()
        self.volumes = Volumes(self.store, root)
        self.bookmark_interval = 1.0
        self.faults.on_drop = lambda: self.hub.signal_all(DROP)
        self.faults.on_expire = lambda: self.hub.signal_all(EXPIRE)
        self.faults.on_compact = self.store.compact
        self.stopping = False
        for plural, body in INITIAL:
            self.api.create(TYPES[plural], "", body)
        self.store.subscribe(self._wake_followers)

    def _wake_followers(self, event: Event) -> None:
        if event.plural == "pods":
            self.logs.wake()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.volumes.start(loop)
