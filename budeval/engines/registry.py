"""Engine registry: name → adapter instance, fed by the `register_engine` decorator.

Built-in engines register themselves when `default_registry()` first imports their modules.
Tests may build their own `EngineRegistry` and inject it instead of the default one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypeVar

from budeval.engines.base import Engine
from budeval.errors import InvalidRequest

E = TypeVar("E", bound=type[Engine])


class EngineRegistry:
    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}

    def add(self, engine: Engine) -> None:
        if engine.name in self._engines:
            raise ValueError(f"engine {engine.name!r} registered twice")
        self._engines[engine.name] = engine

    def get(self, name: str) -> Engine:
        try:
            return self._engines[name]
        except KeyError:
            known = ", ".join(sorted(self._engines)) or "none"
            raise InvalidRequest(
                f"unknown engine {name!r}; known engines: {known}", field="engine"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._engines)

    def all(self) -> list[Engine]:
        return [self._engines[name] for name in self.names()]


BUILTIN_ENGINES = (
    "budeval.engines.smoke",
    "budeval.engines.opencompass",
    "budeval.engines.lmeval",
)
_default = EngineRegistry()


def default_registry() -> EngineRegistry:
    """The registry of the built-in engines (importing a module twice registers it once)."""
    for module in BUILTIN_ENGINES:
        importlib.import_module(module)
    return _default


def register_engine(registry: EngineRegistry | None = None) -> Callable[[E], E]:
    """Class decorator: instantiate the engine and add it to `registry` (default: built-ins)."""

    def decorate(cls: E) -> E:
        (registry or _default).add(cls())
        return cls

    return decorate
