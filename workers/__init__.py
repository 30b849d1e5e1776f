"""Celery workers that host the encoder plugins (see DESIGN.md, "Workers and queues")."""
