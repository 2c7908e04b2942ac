"""Backend registry: name → factory, fed by the `register_backend` decorator.

Built-in backends register when `build_backend` first imports their modules, so the supervisor
(which imports `budeval.backends.local.*`) never pays for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from budeval.backends.base import Backend
from budeval.config import Settings
from budeval.errors import BackendError
from budeval.secrets import LocalSecretStore

BackendFactory = Callable[[Settings, LocalSecretStore], Backend]
F = TypeVar("F", bound=Callable[..., Any])

BUILTIN_BACKENDS = {
    "local": "budeval.backends.local.backend",
    "kubernetes": "budeval.backends.kubernetes.backend",
}
_factories: dict[str, BackendFactory] = {}


def register_backend(name: str) -> Callable[[F], F]:
    def decorate(factory: F) -> F:
        _factories[name] = factory
        return factory

    return decorate


def build_backend(name: str, settings: Settings, secrets: LocalSecretStore) -> Backend:
    if name in BUILTIN_BACKENDS:
        importlib.import_module(BUILTIN_BACKENDS[name])
    try:
        factory = _factories[name]
    except KeyError:
        raise BackendError(f"unknown backend {name!r}") from None
    return factory(settings, secrets)
