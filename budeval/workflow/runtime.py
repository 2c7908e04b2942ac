"""The only module that configures DBOS: config, launch, shutdown.

DBOS facts this encodes (see DESIGN.md): the application version is pinned, or pending workflows
are stranded after an upgrade; `launch` must run inside the serving event loop so async workflows
and the backends' asyncio objects share it; on SQLite DBOS polls for messages, so the poll period
bounds how fast a finished run wakes its evaluation (PostgreSQL uses LISTEN/NOTIFY).
"""

from __future__ import annotations

import logging

from dbos import DBOS, DBOSConfig

from budeval.config import Settings
from budeval.workflow import evaluation as evaluation  # registers the workflows
from budeval.workflow.services import Services, install

log = logging.getLogger(__name__)


def dbos_config(settings: Settings) -> DBOSConfig:
    config: DBOSConfig = {
        "name": "budeval",
        "system_database_url": settings.dbos_url,
        "application_version": settings.application_version,
        "executor_id": "budeval-local",
        "max_executor_threads": settings.executor_threads,
        "sys_db_pool_size": 40,
        "notification_listener_polling_interval_sec": settings.wake_poll_seconds,
        "log_level": settings.log_level,
    }
    return config


async def launch(services: Services) -> None:
    """Install services, then start DBOS (which recovers pending workflows)."""
    install(services)
    DBOS(config=dbos_config(services.settings))
    DBOS.launch()


def shutdown() -> None:
    DBOS.destroy(workflow_completion_timeout_sec=0)
    install(None)
