"""Async jobs: long work (ingest, analyse, chat) run in the background, tracked in SQL.

Jobs run in the API process (all Chroma and SQL writes stay there); their encode and embed
steps go to the Celery workers. A job row survives an API restart: unfinished jobs whose
lease expired are claimed again and re-run, which is safe because every write is idempotent
(stable chunk ids with replace-on-ingest, conversation messages written once with the job's
final state in one transaction).
"""

from assistant.jobs.models import JOB_STATES, TERMINAL, Job

__all__ = ["JOB_STATES", "TERMINAL", "Job"]
