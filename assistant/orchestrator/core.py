"""The orchestrator: encode attachments → retrieve → build prompt → generate.

Built from LangChain runnables so each step can be traced, swapped or reused by the bots.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from assistant import metrics, tracing
from assistant.config import RetrievalSettings
from assistant.dispatch.protocol import EncodeDispatch
from assistant.errors import AssistantError, ServiceUnavailable
from assistant.llm.options import ToolCall
from assistant.orchestrator.prompt import build_messages
from assistant.orchestrator.types import Answer, ChatInput, Finding, Prepared, Usage
from assistant.retrieval.store import Hit, VectorStore

log = logging.getLogger(__name__)


class Orchestrator:
    def __init__(
        self,
        llm: BaseChatModel,
        store: VectorStore,
        settings: RetrievalSettings,
        dispatch: EncodeDispatch | None = None,
        model: str = "",
    ) -> None:
        self.llm = llm
        # the label of the LLM metrics (assistant_llm_*{model=...})
        self.model = model or str(
            getattr(llm, "model_name", None) or getattr(llm, "model", None) or type(llm).__name__
        )
        self.store = store
        self.settings = settings
        self.dispatch = dispatch
        self.prepare_chain: Runnable[dict[str, Any], Prepared] = (
            # encoding attachments and retrieving run side by side: neither needs the other
            RunnablePassthrough.assign(
                findings=RunnableLambda(self._encode_step),
                hits=RunnableLambda(self._retrieve_step),
            )
            | RunnableLambda(self._prompt_step)
        ).with_config(run_name="prepare")

    # steps ----------------------------------------------------------------------------

    async def _encode_step(self, state: dict[str, Any]) -> list[Finding]:
        chat: ChatInput = state["input"]
        findings = list(chat.findings)
        if not chat.attachments:
            return findings
        if self.dispatch is None:
            return findings + [
                Finding(a.display_name, a.media_type, error="no encoders are available")
                for a in chat.attachments
            ]
        with tracing.span("orchestrator.encode", {"attachments": len(chat.attachments)}):
            results = await self.dispatch.encode(chat.tenant, chat.attachments)
        for item, result in zip(chat.attachments, results, strict=True):
            if isinstance(result, ServiceUnavailable):
                # no worker / no broker: a clear 503 (Retry later), not an answer without it
                raise result
            if isinstance(result, BaseException):
                # a failed encoder degrades the answer with a note; it does not fail the request
                reason = result.message if isinstance(result, AssistantError) else str(result)
                log.warning("encoding %s failed: %s", item.display_name, reason)
                findings.append(Finding(item.display_name, item.media_type, error=reason))
            else:
                findings.append(Finding(item.display_name, item.media_type, encoding=result))
        return findings

    async def _retrieve_step(self, state: dict[str, Any]) -> list[Hit]:
        chat: ChatInput = state["input"]
        question = next((t.content for t in reversed(chat.messages) if t.role == "user"), "")
        if not question.strip():
            return []
        with tracing.span("orchestrator.retrieve"):
            return await asyncio.to_thread(self.retrieve, chat.tenant, question)

    def _prompt_step(self, state: dict[str, Any]) -> Prepared:
        chat: ChatInput = state["input"]
        messages, citations = build_messages(chat.messages, state["hits"], state["findings"])
        return Prepared(messages=messages, citations=citations, findings=state["findings"])

    # public API -----------------------------------------------------------------------

    def retrieve(self, tenant: str, question: str) -> list[Hit]:
        hits = self.store.search(tenant, question, self.settings.top_k)
        return [h for h in hits if h.distance <= self.settings.max_distance]

    async def prepare(self, chat: ChatInput) -> Prepared:
        with tracing.span("orchestrator.prepare"):
            return await self.prepare_chain.ainvoke({"input": chat})

    def _params(self, chat: ChatInput) -> dict[str, Any]:
        return chat.generation.kwargs()

    async def answer(self, chat: ChatInput) -> Answer:
        prepared = await self.prepare(chat)
        started = time.perf_counter()
        try:
            with tracing.span("orchestrator.generate", {"llm.model": self.model}):
                message = await self.llm.ainvoke(prepared.messages, **self._params(chat))
        except AssistantError:
            metrics.observe_llm(self.model, started, None, 0, 0, "error")
            raise
        except Exception as exc:
            metrics.observe_llm(self.model, started, None, 0, 0, "error")
            raise ServiceUnavailable(f"the language model failed: {exc}") from exc
        usage = _usage(message.usage_metadata)
        metrics.observe_llm(self.model, started, None, usage.prompt_tokens, usage.completion_tokens)
        return _answer(message, prepared, usage)

    async def stream(
        self, chat: ChatInput, prepared: Prepared | None = None
    ) -> AsyncIterator[str | Answer]:
        """Yield text deltas, then one final Answer (full text, citations, usage).

        Pass ``prepared`` (from ``prepare``) to surface retrieval errors before streaming starts.
        """
        prepared = prepared or await self.prepare(chat)
        parts: list[str] = []
        total: AIMessageChunk | None = None
        started, first = time.perf_counter(), None
        try:
            async for chunk in self.llm.astream(prepared.messages, **self._params(chat)):
                total = chunk if total is None else total + chunk
                if chunk.text:
                    if first is None:
                        first = time.perf_counter()
                    parts.append(chunk.text)
                    yield chunk.text
        except AssistantError:
            metrics.observe_llm(self.model, started, first, 0, 0, "error")
            raise
        except Exception as exc:
            metrics.observe_llm(self.model, started, first, 0, 0, "error")
            raise ServiceUnavailable(f"the language model failed: {exc}") from exc
        usage = _usage(total.usage_metadata if total is not None else None)
        metrics.observe_llm(
            self.model, started, first, usage.prompt_tokens, usage.completion_tokens
        )
        yield _answer(total or AIMessageChunk(content=""), prepared, usage, "".join(parts))


def _answer(
    message: AIMessage, prepared: Prepared, usage: Usage, text: str | None = None
) -> Answer:
    """The model's message as an Answer: text or tool calls, with the prompt's citations."""
    calls = [ToolCall.from_langchain(dict(c)) for c in message.tool_calls]
    calls += [ToolCall.from_langchain(dict(c)) for c in message.invalid_tool_calls]
    meta = message.response_metadata
    finish = str(meta.get("finish_reason") or "stop")
    if calls and finish == "stop":
        finish = "tool_calls"  # some servers say "stop" for a call
    return Answer(
        message.text if text is None else text,
        prepared.citations,
        usage,
        finish,
        prepared.findings,
        tool_calls=calls,
        logprobs=meta.get("logprobs") if isinstance(meta.get("logprobs"), dict) else None,
    )


def _usage(meta: Any) -> Usage:
    if not meta:
        return Usage()
    return Usage(
        prompt_tokens=meta.get("input_tokens", 0),
        completion_tokens=meta.get("output_tokens", 0),
        total_tokens=meta.get("total_tokens", 0),
    )
