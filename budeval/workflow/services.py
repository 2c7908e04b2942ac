"""The objects steps work with, installed once by the app factory.

DBOS steps are module-level functions, so they cannot receive services as arguments (arguments
are checkpointed). The app factory builds the services and installs them here before DBOS
launches; steps look them up. Nothing is created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from budeval.backends.base import Backend, RunHandle
from budeval.backends.kubernetes.clusters import ClusterDirectory
from budeval.config import Settings
from budeval.egress import Resolver
from budeval.engines.registry import EngineRegistry
from budeval.errors import BackendError
from budeval.secrets import LocalSecretStore
from budeval.store import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    engines: EngineRegistry
    backends: dict[str, Backend]
    secrets: LocalSecretStore
    clusters: ClusterDirectory = field(default=None)  # type: ignore[assignment]
    """Registered clusters (kept in the secret store); built from settings when not given."""
    resolver: Resolver | None = None
    """DNS for the egress policy; None: the system's, bounded by the policy's timeout."""

    def __post_init__(self) -> None:
        if self.clusters is None:
            self.clusters = ClusterDirectory(self.settings, self.secrets)

    def backend(self, name: str) -> Backend:
        try:
            return self.backends[name]
        except KeyError:
            raise BackendError(f"backend {name!r} is not configured") from None

    def backend_of(self, handle: RunHandle) -> Backend:
        return self.backend(handle.backend)


_installed: Services | None = None


def install(services: Services | None) -> None:
    global _installed
    _installed = services


def current() -> Services:
    if _installed is None:
        raise RuntimeError("budeval services are not installed (the app factory does this)")
    return _installed
