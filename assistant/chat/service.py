"""The chat use case: limits, history → input, answer or stream, and the one way a turn is kept.

The chat route, the ``chat`` job kind and both bots go through ``ChatService``; none of them
builds a ``ChatInput`` or stores a message on its own. Database calls run in a thread: this
code runs on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from assistant.attachments import AttachmentResolver
from assistant.auth import Principal
from assistant.chat.request import ChatCompletionRequest, ChatMessageIn
from assistant.config import Settings
from assistant.errors import InvalidRequest, NotFound, PayloadTooLarge
from assistant.llm.options import ToolCall, supported_parameters
from assistant.orchestrator import Answer, ChatInput, ChatTurn, Finding, Orchestrator
from assistant.orchestrator.types import Prepared
from assistant.plugins.contract import MediaItem
from assistant.store import Database
from assistant.store.db import add_messages


def turn_messages(
    question: str, attachment_names: Sequence[str], answer: Answer
) -> list[dict[str, Any]]:
    """The stored form of one turn: the question (naming its attachments) and the answer."""
    names = [n for n in attachment_names if n]
    stored = question + (f"\n[attachments: {', '.join(names)}]" if names else "")
    return [
        {"role": "user", "content": stored},
        {
            "role": "assistant",
            "content": answer.text,
            "citations": [c.model_dump() for c in answer.citations],
        },
    ]


def _turn(message: ChatMessageIn) -> ChatTurn:
    role = "system" if message.role == "developer" else message.role
    calls = [
        ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
        for c in message.tool_calls or []
    ]
    return ChatTurn(role, message.text(), tool_calls=calls, tool_call_id=message.tool_call_id)


@dataclass
class Turn:
    """One request's turn: the model's input, and what the conversation keeps of it."""

    chat: ChatInput
    conversation_id: str | None
    question: str
    attachment_names: list[str]


class ChatService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        attachments: AttachmentResolver,
        orchestrator: Orchestrator,
        model_ids: frozenset[str],
    ) -> None:
        self.settings = settings
        self.db = db
        self.attachments = attachments
        self.orchestrator = orchestrator
        self.model_ids = model_ids
        self.supported = supported_parameters(settings.llm)

    # checks -----------------------------------------------------------------------------

    def check_limits(self, body: ChatCompletionRequest) -> None:
        """The model exists and the request is within the limits (before any work)."""
        api = self.settings.api
        if body.model not in self.model_ids:
            raise NotFound(
                f"the model {body.model!r} does not exist; see GET /v1/models",
                param="model",
                code="model_not_found",
            )
        if len(body.messages) > api.max_messages:
            raise PayloadTooLarge(
                f"{len(body.messages)} messages is more than the limit of {api.max_messages}",
                param="messages",
            )
        for i, message in enumerate(body.messages):
            if len(message.text()) > api.max_message_chars:
                raise PayloadTooLarge(
                    f"messages[{i}] has {len(message.text())} characters; the limit is "
                    f"{api.max_message_chars}",
                    param=f"messages.{i}.content",
                )
        backend = self.settings.llm.provider
        for param in body.parameters_set():
            if param not in self.supported:
                raise InvalidRequest(
                    f"{param}: the configured model backend ({backend}) does not support this "
                    "parameter",
                    param=param,
                    code="unsupported_parameter",
                )
        limit = self.settings.llm.n_ctx
        wanted = body.max_completion_tokens or body.max_tokens
        if wanted is not None and wanted > limit:
            raise InvalidRequest(
                f"max_tokens {wanted} is larger than the model's context of {limit} tokens",
                param="max_tokens",
            )

    async def check(self, body: ChatCompletionRequest, tenant: str) -> None:
        """Limits, then the conversation (404 for unknown ids and other tenants' ids)."""
        self.check_limits(body)
        if body.conversation_id:
            await asyncio.to_thread(self.db.get_conversation, tenant, body.conversation_id)

    # input ------------------------------------------------------------------------------

    async def history(self, tenant: str, conversation_id: str | None) -> list[ChatTurn]:
        if not conversation_id:
            return []
        stored = await asyncio.to_thread(self.db.history, tenant, conversation_id)
        return [
            ChatTurn(m.role, m.content)  # type: ignore[arg-type]
            for m in stored
            if m.role in ("user", "assistant")
        ]

    async def input_for(self, body: ChatCompletionRequest, principal: Principal) -> ChatInput:
        """History of the conversation, then the request's messages and attachments."""
        turns = await self.history(principal.tenant, body.conversation_id)
        turns.extend(_turn(m) for m in body.messages)
        parts = [p for m in body.messages if m.role == "user" for p in m.media_parts()]
        attachments = await self.attachments(principal, parts) if parts else []
        return ChatInput(
            tenant=principal.tenant,
            messages=turns,
            attachments=attachments,
            generation=body.generation(),
            priority="background" if body.background() else "interactive",
            frontend_task=body.frontend_task(),
        )

    async def input_for_thread(
        self,
        tenant: str,
        conversation_id: str,
        question: str,
        attachments: Sequence[MediaItem] = (),
        notes: Sequence[Finding] = (),
    ) -> ChatInput:
        """A bot's message: the thread's conversation, the new question and its files."""
        turns = await self.history(tenant, conversation_id)
        turns.append(ChatTurn("user", question))
        return ChatInput(
            tenant=tenant, messages=turns, attachments=list(attachments), findings=list(notes)
        )

    # answer -----------------------------------------------------------------------------

    async def answer(self, chat: ChatInput) -> Answer:
        return await self.orchestrator.answer(chat)

    async def prepare(self, chat: ChatInput) -> Prepared:
        return await self.orchestrator.prepare(chat)

    def stream(
        self, chat: ChatInput, prepared: Prepared | None = None
    ) -> AsyncIterator[str | Answer]:
        return self.orchestrator.stream(chat, prepared)

    async def open_turn(self, body: ChatCompletionRequest, principal: Principal) -> Turn:
        """Check the request, build its input, and note what its record will keep."""
        await self.check(body, principal.tenant)
        chat = await self.input_for(body, principal)
        question, names = self.request_turn(body, chat)
        return Turn(chat, body.conversation_id, question, names)

    async def record_turn(self, turn: Turn, answer: Answer) -> None:
        await self.record(
            turn.chat.tenant, turn.conversation_id, turn.question, turn.attachment_names, answer
        )

    # the record -------------------------------------------------------------------------

    @staticmethod
    def request_turn(body: ChatCompletionRequest, chat: ChatInput) -> tuple[str, list[str]]:
        """The question and the names of the attachments of the request's last user message."""
        last = next(m for m in reversed(body.messages) if m.role == "user")
        count = len(last.media_parts())
        names = [a.display_name for a in chat.attachments[-count:]] if count else []
        return last.text(), names

    async def record(
        self,
        tenant: str,
        conversation_id: str | None,
        question: str,
        attachment_names: Sequence[str],
        answer: Answer,
    ) -> None:
        if conversation_id:
            messages = turn_messages(question, attachment_names, answer)
            await asyncio.to_thread(self.db.append_messages, tenant, conversation_id, messages)

    @staticmethod
    def record_in(
        session: Session,
        conversation_id: str | None,
        question: str,
        attachment_names: Sequence[str],
        answer: Answer,
    ) -> None:
        """The same record inside a caller's transaction (a job's final state, written once)."""
        if conversation_id:
            add_messages(
                session, conversation_id, turn_messages(question, attachment_names, answer)
            )
