"""`GET /engines`: what can evaluate here, and whether its local environment is installed."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from budeval.api.deps import Authenticated, ServicesDep
from budeval.engines import environments

router = APIRouter(prefix="/engines", tags=["engines"], dependencies=Authenticated)


class EnginePublic(BaseModel):
    name: str
    version: str
    image: str
    default_dataset: str
    endpoint_mode: str | None
    installed: bool
    """Local mode: the engine's environment exists (always true for built-in ones)."""


@router.get("")
async def list_engines(services: ServicesDep) -> list[EnginePublic]:
    engines = services.settings.engines_path
    return [
        EnginePublic(
            name=engine.name,
            version=engine.version,
            image=engine.image,
            default_dataset=engine.default_dataset,
            endpoint_mode=engine.mode,
            installed=engine.recipe is None or environments.installed(engines, engine.recipe),
        )
        for engine in services.engines.all()
    ]
