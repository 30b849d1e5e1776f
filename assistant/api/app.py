"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from assistant import __version__
from assistant.api.errors import install_error_handlers
from assistant.api.guard import RequestGuard
from assistant.api.limits import BodySizeLimit
from assistant.api.openapi import install_openapi
from assistant.api.routes import (
    admin,
    audio,
    chat,
    conversations,
    documents,
    embeddings,
    files,
    meta,
    responses,
    search,
)
from assistant.api.routes import jobs as jobs_routes
from assistant.api.routes import metrics as metrics_routes
from assistant.bots import slack_route as slack_events
from assistant.config import Settings, ensure_api_key, get_settings
from assistant.logs import RequestIdMiddleware, setup_logging
from assistant.services import Services
from assistant.tracing import TracingMiddleware, setup_tracing

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        running: Services | None = getattr(app.state, "services", None)
        if running is None:
            running = app.state.services = Services.build(settings)
            running.warm_up()
        await running.start()  # the job scanner resumes jobs an earlier process left behind
        try:
            yield
        finally:
            await running.aclose()  # jobs released for the next process, broker connections

    app = FastAPI(title="assistant", version=__version__, lifespan=lifespan)
    app.state.services = services
    install_error_handlers(app)
    install_openapi(app)
    routes = (
        chat,
        responses,
        embeddings,
        audio,
        search,
        meta,
        documents,
        files,
        conversations,
        admin,
    )
    for module in routes:
        app.include_router(module.router)
    app.include_router(slack_events.router)  # POST /slack/events (bots extra; 404 until configured)
    app.include_router(jobs_routes.router)  # /v1/jobs
    app.include_router(metrics_routes.router)  # GET /metrics (Prometheus)
    app.add_middleware(metrics_routes.HTTPMetrics)
    app.add_middleware(RequestGuard)  # per-key limits released, audit record written
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.api.max_body_bytes,
        idle_timeout_s=settings.api.body_idle_timeout_s,
    )
    app.add_middleware(RequestIdMiddleware)  # every log line of a request has its id
    if settings.tracing.enabled and setup_tracing(settings.tracing, service="api"):
        app.add_middleware(TracingMiddleware)  # outermost: the request's SERVER span
    return app


def create_app_from_env() -> FastAPI:
    """``uvicorn assistant.api.app:create_app_from_env --factory --workers N``: production.

    Settings come from the environment (``ASSISTANT_*``); logs are JSON lines; every process
    builds its own Services. Unlike ``assistant serve`` nothing embedded is started: set
    ``ASSISTANT_WORKERS__REDIS_URL`` (and, for several replicas, a Chroma server, an SQL
    database and a shared blob store; see the README's scaling section).
    """
    settings = get_settings()
    setup_logging(settings.log_level, settings.log_json)
    if ensure_api_key(settings):
        log.warning("no API key configured: generated one in %s", settings.storage.data_dir)
    return create_app(settings)
