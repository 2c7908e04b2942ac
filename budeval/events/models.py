"""The CloudEvents 1.0 envelope budeval emits for every status change.

Events are created by the store in the same transaction as the change they describe (outbox), and
delivered by sinks after commit; the id makes delivery idempotent for receivers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

SOURCE = "budeval"

EVALUATION_STATUS = "io.budeval.evaluation.status"
RUN_STATUS = "io.budeval.run.status"
EVALUATION_PROGRESS = "io.budeval.evaluation.progress"


class CloudEvent(BaseModel, frozen=True):
    specversion: str = "1.0"
    id: str
    source: str = SOURCE
    type: str
    subject: str
    time: datetime
    datacontenttype: str = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)
