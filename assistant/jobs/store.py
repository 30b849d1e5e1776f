"""Tenant-scoped access to job rows; another tenant's id looks like no id (404)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from assistant.errors import NotFound
from assistant.jobs.models import TERMINAL, Job
from assistant.store import Database


def _now() -> datetime:
    return datetime.now(UTC)


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create_all()  # the model is on the shared Base: its table is created with the rest

    def create(self, tenant: str, kind: str, request: dict[str, Any], **fields: Any) -> Job:
        with self.db.session() as s:
            job = Job(tenant=tenant, kind=kind, request=request, state="queued", **fields)
            s.add(job)
            s.flush()
            return job

    def get(self, tenant: str | None, job_id: str) -> Job:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None or (tenant is not None and job.tenant != tenant):
                raise NotFound(f"job {job_id!r} not found", param="job_id")
            return job

    def list(self, tenant: str | None, state: str | None = None, limit: int = 100) -> list[Job]:
        with self.db.session() as s:
            query = select(Job).order_by(Job.created_at.desc()).limit(limit)
            if tenant is not None:
                query = query.where(Job.tenant == tenant)
            if state is not None:
                query = query.where(Job.state == state)
            return list(s.scalars(query))

    def update(self, job_id: str, **fields: Any) -> Job:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise NotFound(f"job {job_id!r} not found", param="job_id")
            for name, value in fields.items():
                setattr(job, name, value)
            job.updated_at = _now()
            return job

    def finish(
        self,
        job_id: str,
        state: str,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        also: Callable[[Session], None] | None = None,
    ) -> bool:
        """Move a job to a final state once; ``also`` writes in the same transaction.

        Returns False (and writes nothing) when the job already reached a final state, so a
        re-run job cannot write its side effects twice.
        """
        with self.db.session() as s:
            job = s.get(Job, job_id, with_for_update=True)
            if job is None or job.state in TERMINAL:
                return False
            if also is not None:
                also(s)
            job.state = state
            job.result = result
            job.error = error
            job.finished_at = job.updated_at = _now()
            job.lease_owner = None
            job.lease_until = None
            return True

    def claim(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Take a queued job, or a running one whose lease expired (its API process died)."""
        now = _now()
        with self.db.session() as s:
            result = s.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    or_(
                        Job.state == "queued",
                        (Job.state == "running")
                        & or_(Job.lease_until.is_(None), Job.lease_until < now),
                    ),
                )
                .values(
                    state="running",
                    lease_owner=owner,
                    lease_until=now + timedelta(seconds=lease_s),
                    started_at=now,
                    updated_at=now,
                    attempts=Job.attempts + 1,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def renew(self, job_id: str, owner: str, lease_s: float) -> None:
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.lease_owner == owner, Job.state == "running")
                .values(lease_until=_now() + timedelta(seconds=lease_s))
            )

    def release(self, job_id: str, owner: str, retry_after_s: float) -> None:
        """Hand a running job back: the scanner claims it again once ``retry_after_s`` passed."""
        with self.db.session() as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.lease_owner == owner, Job.state == "running")
                .values(lease_until=_now() + timedelta(seconds=retry_after_s), updated_at=_now())
            )

    def claimable(self, limit: int = 20) -> builtins.list[str]:
        now = _now()
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(Job.id)
                    .where(
                        or_(
                            Job.state == "queued",
                            (Job.state == "running")
                            & or_(Job.lease_until.is_(None), Job.lease_until < now),
                        )
                    )
                    .order_by(Job.created_at)
                    .limit(limit)
                )
            )
