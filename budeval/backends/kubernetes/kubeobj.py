"""Reading the API's plain objects: timestamps, status, conditions (shared by the fate rules).

Pure helpers over dicts as the API returns them, so podstate.py and waits.py read objects one way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from budeval.backends.base import RunState
from budeval.status import RunStatus

Obj = dict[str, Any]
MESSAGE_MAX = 500


def parse_time(value: str | None) -> float | None:
    """An RFC 3339 timestamp of the API (`2024-05-01T10:00:00Z`) as epoch seconds."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def status(obj: Obj | None) -> Obj:
    return (obj or {}).get("status") or {}


def created(obj: Obj) -> float:
    return parse_time((obj.get("metadata") or {}).get("creationTimestamp")) or 0.0


def condition(obj: Obj, kind: str) -> Obj | None:
    for found in status(obj).get("conditions") or []:
        if found.get("type") == kind:
            return found
    return None


def failed(reason: str, message: str | None, **fields: Any) -> RunState:
    return RunState(status=RunStatus.FAILED, reason=reason, message=message, **fields)
