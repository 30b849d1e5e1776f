"""Celery workers that host the encoder plugins (see docs/architecture.md)."""
