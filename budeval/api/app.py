"""The app factory: builds every service object at start-up (never at import) and wires them.

Start-up order matters: store (migrated) → services installed → backends started → DBOS launched
(which recovers pending workflows, so steps must find the services) → status relay (first sweep)
→ reconciler (every unfinished evaluation gets a workflow) → outbox dispatcher → orphan
collector. Shutdown reverses it; runs keep going and are adopted on the next start.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import make_asgi_app

import budeval
from budeval.api.limits import BodyLimit
from budeval.api.problems import install_handlers, problem
from budeval.api.routes import clusters, engines, evals, health, predictions
from budeval.api.security import Unauthorized
from budeval.backends.kubernetes.clusters import ClusterDirectory
from budeval.backends.registry import build_backend
from budeval.config import Settings
from budeval.demo import datasets as demo_datasets
from budeval.engines.registry import default_registry
from budeval.notify.dispatcher import LogSink, OutboxDispatcher
from budeval.secrets import LocalSecretStore
from budeval.store import open_store
from budeval.workflow import runtime
from budeval.workflow.collector import OrphanCollector
from budeval.workflow.reconciler import Reconciler
from budeval.workflow.relay import StatusRelay
from budeval.workflow.services import Services


def build_services(settings: Settings) -> Services:
    settings.ensure_dirs()
    for name in demo_datasets.GENERATORS:  # generated, so every data dir has them, offline
        demo_datasets.write(settings.datasets_dir / "demo", name)
    for engine in ("lmeval", "opencompass"):  # where users put their own datasets
        (settings.datasets_dir / engine).mkdir(parents=True, exist_ok=True)
    secrets = LocalSecretStore(settings.secrets_dir)
    return Services(
        settings=settings,
        store=open_store(settings.store_url),
        engines=default_registry(),
        backends={settings.backend: build_backend(settings.backend, settings, secrets)},
        secrets=secrets,
        clusters=ClusterDirectory(settings, secrets),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await asyncio.to_thread(build_services, settings)
        app.state.services = services
        for backend in services.backends.values():
            await backend.start()
        await runtime.launch(services)
        relay = StatusRelay(services)
        await relay.start()
        reconciler = Reconciler(services)
        await reconciler.start()
        dispatcher = OutboxDispatcher(services.store, [LogSink()])
        await dispatcher.start()
        collector = OrphanCollector(services)
        await collector.start()
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            await collector.stop()
            await dispatcher.stop()
            await reconciler.stop()
            await relay.stop()
            for backend in services.backends.values():
                await backend.stop()
            runtime.shutdown()
            services.store.close()

    app = FastAPI(
        title="budeval",
        version=budeval.__version__,
        summary="Evaluate OpenAI-compatible LLM endpoints on benchmark datasets, durably.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit)
    install_handlers(app)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, __: Unauthorized) -> JSONResponse:
        response = problem(401, "Unauthorized", "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    app.include_router(health.router)
    app.include_router(evals.router)
    app.include_router(engines.router)
    app.include_router(clusters.router)
    app.include_router(predictions.router)
    app.mount("/metrics", make_asgi_app())
    return app
