"""What a job kind is, and what it may use.

A kind is one module in this package with a module-level ``kind`` (a ``JobKind`` instance);
``assistant.jobs.kinds`` finds it, the API accepts its name, and the runner runs it. All Chroma
and SQL writes of a job happen in the API process, through the services in ``JobContext``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from assistant.attachments import AttachmentResolver
from assistant.chat.service import ChatService
from assistant.config import Settings
from assistant.dispatch.protocol import EncodeDispatch
from assistant.errors import InvalidRequest
from assistant.jobs.models import Job
from assistant.jobs.progress import Progress
from assistant.jobs.store import JobStore
from assistant.retrieval.ingest_service import IngestService
from assistant.store import Database


@dataclass
class JobContext:
    """The services a job kind may use (a typed subset of ``Services``)."""

    settings: Settings
    db: Database
    store: JobStore
    attachments: AttachmentResolver
    dispatch: EncodeDispatch
    ingest: IngestService
    chat: ChatService


InputT = TypeVar("InputT", bound=BaseModel)


def invalid_input(exc: ValidationError) -> InvalidRequest:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return InvalidRequest(f"input{'.' + where if where else ''}: {first['msg']}", param="input")


class JobKind(ABC):
    name: ClassVar[str]
    Input: ClassVar[type[BaseModel]]
    # True when ``run`` writes the final state itself, in one transaction with its own writes
    # (a chat job's messages), so that a re-run job cannot write them twice
    finishes_itself: ClassVar[bool] = False

    async def validate(self, ctx: JobContext, tenant: str, data: dict[str, Any]) -> dict[str, Any]:  # noqa: ARG002 - kinds that check files or conversations use them
        """Check the input before the job is queued (400 for bad input); the stored form."""
        return parse_input(self.Input, data).model_dump(mode="json", exclude_none=True)

    @abstractmethod
    async def run(self, ctx: JobContext, job: Job, progress: Progress) -> dict[str, Any]:
        """Do the work; the result is stored with the job. Raise AssistantError to fail it
        (``ServiceUnavailable`` puts it back to run again later)."""


def parse_input(model: type[InputT], data: dict[str, Any]) -> InputT:
    """A job's input as its model; a 400 naming the first bad field otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(exc) from exc


async def check_files(ctx: JobContext, tenant: str, file_ids: list[str]) -> None:
    for file_id in file_ids:
        await asyncio.to_thread(ctx.db.get_file, tenant, file_id)  # 404 for others' ids
