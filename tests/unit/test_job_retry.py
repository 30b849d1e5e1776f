"""A job whose dependency is away is retried on a time budget with backoff, not a count; a job's
task may wait in the queue longer than an interactive request's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from assistant.config import Settings
from assistant.dispatch.celery_client import CeleryClient
from assistant.dispatch.names import JOB_ID_HEADER, REQUEST_ID_HEADER
from assistant.jobs.models import Job
from assistant.jobs.runner import JobManager


def _delay(job: Job, **workers: float) -> float | None:
    settings = Settings.model_validate({"workers": workers})
    return JobManager.retry_delay(SimpleNamespace(ctx=SimpleNamespace(settings=settings)), job)  # type: ignore[arg-type]


def _job(age_s: float, attempts: int) -> Job:
    return Job(created_at=datetime.now(UTC) - timedelta(seconds=age_s), attempts=attempts)


def test_backoff_doubles_up_to_its_ceiling() -> None:
    delays = [_delay(_job(10, n)) for n in range(1, 10)]
    assert delays[:4] == [3.0, 6.0, 12.0, 24.0]
    assert delays[-1] == 300.0 and all(d is not None and d <= 300.0 for d in delays)


def test_a_long_outage_is_outlasted_where_twenty_attempts_were_not() -> None:
    # 2 hours of outage and the 200th attempt: the old rule (20 attempts, 3 s apart) gave up
    assert _delay(_job(7200, 200)) == 300.0


def test_the_budget_ends_the_retries() -> None:
    assert _delay(_job(90, 3), job_retry_for_s=60) is None
    assert _delay(_job(30, 3), job_retry_for_s=60) == 12.0
    naive = Job(created_at=datetime.now(UTC).replace(tzinfo=None), attempts=1)  # SQLite reads
    assert _delay(naive) == 3.0


def test_a_jobs_task_may_wait_longer_than_an_interactive_one() -> None:
    # a job's step queues behind other jobs' work: that wait is not a dead worker
    settings = Settings.model_validate(
        {
            "workers": {
                "redis_url": "redis://127.0.0.1:9/0",
                "result_timeout_s": 8,
                "job_result_timeout_s": 600,
            }
        }
    )
    client = CeleryClient(settings)
    job, request = {JOB_ID_HEADER: "job_1"}, {REQUEST_ID_HEADER: "req_1"}
    assert client.timeout_for([job, job]) == 600
    # a batch that also serves a person waiting gets that person's limit
    assert client.timeout_for([job, request]) == 8
    assert client.timeout_for([request]) == client.timeout_for([]) == 8
