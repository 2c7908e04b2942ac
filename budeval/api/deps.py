"""Route dependencies: the installed services, authentication."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from budeval.api.security import require_token
from budeval.workflow.services import Services


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]
Authenticated = [Depends(require_token)]
