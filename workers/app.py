"""The workers' Celery app (``celery -A workers.app``), configured from the environment."""

from __future__ import annotations

from assistant.config import get_settings
from assistant.dispatch.celery_app import make_celery

app = make_celery(get_settings())
app.conf.include = ["workers.tasks"]
