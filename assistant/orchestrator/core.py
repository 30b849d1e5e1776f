"""The orchestrator: encode attachments → retrieve → build prompt → generate.

Built from LangChain runnables so each step can be traced, swapped or reused by the bots.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from assistant import metrics, tracing
from assistant.blobs import BlobStore
from assistant.config import LLMSettings, RetrievalSettings
from assistant.dispatch.protocol import EncodeDispatch
from assistant.errors import AssistantError, ServiceUnavailable
from assistant.llm.options import ToolCall
from assistant.orchestrator import grounding
from assistant.orchestrator.followup import retrieval_query
from assistant.orchestrator.media import take_renditions
from assistant.orchestrator.prompt import as_sent, build_messages, evidence
from assistant.orchestrator.similarity import WordSimilarity
from assistant.orchestrator.tools import SPECS, InternalTools, ToolState
from assistant.orchestrator.types import Answer, ChatInput, Finding, Prepared, Usage
from assistant.plugins.contract import RenderOptions
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
        render: RenderOptions | None = None,
        blobs: BlobStore | None = None,
        llm_settings: LLMSettings | None = None,
    ) -> None:
        self.llm = llm
        # what raw media the model reads (None: text only) and where workers leave the copies
        self.render = render
        self.blobs = blobs
        # the encoders as tools (llm.tools), with their bounds
        self.tools = (
            InternalTools(self.retrieve, dispatch) if llm_settings and llm_settings.tools else None
        )
        self.max_tool_rounds = llm_settings.max_tool_rounds if llm_settings else 0
        self.tool_budget_s = llm_settings.tool_budget_s if llm_settings else 0.0
        # the label of the LLM metrics (assistant_llm_*{model=...})
        self.model = model or str(
            getattr(llm, "model_name", None) or getattr(llm, "model", None) or type(llm).__name__
        )
        self.store = store
        self.settings = settings
        # sentences per retrieved chunk the model reads (0: whole chunks); see RetrievalSettings
        upstream = llm_settings is not None and llm_settings.provider == "openai"
        self.context_sentences = (
            settings.context_sentences
            if settings.context_sentences is not None
            else (0 if upstream else 1)
        )
        beside = llm_settings.history_beside_sources if llm_settings else None
        self.history_beside_sources = upstream if beside is None else beside
        flag = llm_settings.flag_unsupported if llm_settings else None
        self.flag_unsupported = not upstream if flag is None else flag
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
        options = {"render": self.render.model_dump()} if self.render else None
        with tracing.span("orchestrator.encode", {"attachments": len(chat.attachments)}):
            results = await self.dispatch.encode(chat.tenant, chat.attachments, options)
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
                encoding, media = await asyncio.to_thread(take_renditions, self.blobs, result)
                findings.append(
                    Finding(item.display_name, item.media_type, encoding=encoding, media=media)
                )
        return findings

    async def _retrieve_step(self, state: dict[str, Any]) -> list[Hit]:
        chat: ChatInput = state["input"]
        question = retrieval_query(chat.messages)
        if chat.frontend_task or not question.strip():
            return []
        with tracing.span("orchestrator.retrieve"):
            return await asyncio.to_thread(self.retrieve, chat.tenant, question)

    @cached_property
    def word_similarity(self) -> WordSimilarity:
        """Words near in meaning, for the compression (the index's embedder, its vectors kept)."""
        return WordSimilarity(self.store.embedder)

    def _prompt_step(self, state: dict[str, Any]) -> Prepared:
        chat: ChatInput = state["input"]
        if chat.frontend_task and not state["findings"]:
            # sources and our grounding instructions only pull the model away from the JSON
            # the task asks for (3 of 9 Open WebUI tasks answered with it grounded, 8 of 9 as
            # sent, in 0.78x the time: bench/bench_frontend_tasks.py)
            return Prepared(messages=as_sent(chat.messages), citations=[], findings=[])
        messages, citations = build_messages(
            chat.messages,
            state["hits"],
            state["findings"],
            context_sentences=self.context_sentences,
            relative_score=self.settings.context_relative_score,
            history_beside_sources=self.history_beside_sources,
            similarity=self.word_similarity,
        )
        # attachment n of the prompt: notes given in chat.findings come first
        first = len(chat.findings) + 1
        numbered = {first + i: item for i, item in enumerate(chat.attachments)}
        return Prepared(
            messages=messages,
            citations=citations,
            findings=state["findings"],
            attachments=numbered,
            evidence=evidence(chat.messages, state["hits"], state["findings"]),
        )

    # public API -----------------------------------------------------------------------

    def retrieve(
        self,
        tenant: str,
        question: str,
        k: int | None = None,
        where: dict[str, Any] | None = None,
    ) -> list[Hit]:
        """The ``k`` (default ``top_k``) chunks nearest the question, within ``max_distance``."""
        return self.store.search(
            tenant, question, k or self.settings.top_k, where, self.settings.max_distance
        )

    async def prepare(self, chat: ChatInput) -> Prepared:
        with tracing.span("orchestrator.prepare"):
            return await self.prepare_chain.ainvoke({"input": chat})

    def _params(self, chat: ChatInput) -> dict[str, Any]:
        return chat.generation.kwargs()

    async def answer(self, chat: ChatInput) -> Answer:
        prepared = await self.prepare(chat)
        async for event in self._generate(chat, prepared, stream=False):
            if isinstance(event, Answer):
                return event
        raise ServiceUnavailable("the language model gave no answer")  # pragma: no cover

    async def stream(
        self, chat: ChatInput, prepared: Prepared | None = None
    ) -> AsyncIterator[str | Answer]:
        """Yield text deltas, then one final Answer (full text, citations, usage).

        Pass ``prepared`` (from ``prepare``) to surface retrieval errors before streaming starts.
        """
        prepared = prepared or await self.prepare(chat)
        async for event in self._generate(chat, prepared, stream=True):
            yield event

    def _offered(self, chat: ChatInput, state: ToolState) -> dict[str, dict[str, Any]]:
        """Our tools for this request: none when they are off or the client said "none"."""
        if self.tools is None or chat.generation.tool_choice == "none":
            return {}
        return self.tools.offered(state, {t.name for t in chat.generation.tools})

    async def _generate(
        self, chat: ChatInput, prepared: Prepared, *, stream: bool
    ) -> AsyncIterator[str | Answer]:
        """Model rounds: our tools' calls are run and fed back (bounded in rounds and time);
        the answer, or the client's own tool calls, end it."""
        params = self._params(chat)
        state = ToolState(chat.tenant, prepared.attachments, prepared.citations)
        tools = self.tools
        offered = self._offered(chat, state)
        internal = set(SPECS) - {t.name for t in chat.generation.tools}
        if offered:
            params = {**params, "tools": [*params.get("tools", []), *offered.values()]}
            params.setdefault("tool_choice", "auto")
        messages = list(prepared.messages)
        deadline = time.monotonic() + self.tool_budget_s
        parts: list[str] = []
        usage = Usage()
        rounds = 0
        while True:
            last = bool(offered) and (
                rounds >= self.max_tool_rounds or time.monotonic() >= deadline
            )
            call_params = params
            if last and not chat.generation.tools:  # only ours were offered: answer now
                call_params = {**params, "tool_choice": "none"}
            message: AIMessage = AIMessage(content="")
            if getattr(self.llm, "queues_by_priority", False):  # the local model's FairLock
                call_params = {**call_params, "priority": chat.priority}
            async for event in self._call(messages, call_params, stream=stream):
                if isinstance(event, str):
                    parts.append(event)
                    yield event
                else:
                    message = event
            usage = _add(usage, _usage(message.usage_metadata))
            # a call of one of our tools not offered this time is still ours (and answered
            # with why it cannot run): the client never defined it
            ours = [c for c in message.tool_calls if offered and c["name"] in internal]
            theirs = [c for c in message.tool_calls if c not in ours]
            if tools is None or not ours or theirs or last:
                break
            rounds += 1
            messages.append(AIMessage(content=message.content, tool_calls=ours))
            for call in ours:
                result = await tools.run(state, call["name"], call["args"])
                messages.append(ToolMessage(result, tool_call_id=call["id"] or ""))
        if offered:
            metrics.TOOL_ROUNDS.observe(rounds)
        final = message.model_copy(update={"tool_calls": theirs})
        text = "".join(parts) if stream else final.text
        claims = [] if theirs else self._unsupported(text, chat, messages, prepared)
        if claims:
            note = grounding.note(claims)
            if stream:
                yield note
            text += note
        yield _answer(final, prepared, usage, text, claims)

    def _unsupported(
        self, text: str, chat: ChatInput, messages: list[Any], prepared: Prepared
    ) -> list[str]:
        """The answer's numbers and names that nothing the model was given holds (the
        prepared evidence, and the results of our tools' rounds). With no source found the
        conversation is all it was given, and what the model says from its own knowledge is
        named too (the answer has no citation to check it by). Only for a plain-text answer a
        person reads: never under JSON, a client's tool use, per-token logprobs or a front
        end's own task (a title, tags), whose readers parse what they get."""
        generation = chat.generation
        if (
            not self.flag_unsupported
            or not text.strip()
            or generation.response_format is not None
            or generation.tools
            or generation.logprobs
            or chat.frontend_task
        ):
            return []
        ran = [
            str(m.text) for m in messages[len(prepared.messages) :] if isinstance(m, ToolMessage)
        ]
        claims = grounding.unsupported(text, prepared.evidence + ran)
        if claims:
            metrics.UNSUPPORTED_ANSWERS.labels(self.model).inc()
        return claims

    async def _call(
        self, messages: list[Any], params: dict[str, Any], *, stream: bool
    ) -> AsyncIterator[str | AIMessage]:
        """One model call: text deltas when streaming, then the whole message."""
        started, first = time.perf_counter(), None
        total: AIMessageChunk | None = None
        try:
            with tracing.span("orchestrator.generate", {"llm.model": self.model}):
                if not stream:
                    message = await self.llm.ainvoke(messages, **params)
                else:
                    async for chunk in self.llm.astream(messages, **params):
                        total = chunk if total is None else total + chunk
                        if chunk.text:
                            first = first or time.perf_counter()
                            yield chunk.text
                    message = _message_of(total)
        except AssistantError:
            metrics.observe_llm(self.model, started, first, 0, 0, "error")
            raise
        except Exception as exc:
            metrics.observe_llm(self.model, started, first, 0, 0, "error")
            raise ServiceUnavailable(f"the language model failed: {exc}") from exc
        usage = _usage(message.usage_metadata)
        metrics.observe_llm(
            self.model, started, first, usage.prompt_tokens, usage.completion_tokens
        )
        yield message


def _message_of(total: AIMessageChunk | None) -> AIMessage:
    """A streamed message, whole (its tool-call chunks parsed into calls)."""
    if total is None:
        return AIMessage(content="")
    return AIMessage(
        content=total.content,
        tool_calls=total.tool_calls,
        invalid_tool_calls=total.invalid_tool_calls,
        usage_metadata=total.usage_metadata,
        response_metadata=total.response_metadata,
    )


def _add(a: Usage, b: Usage) -> Usage:
    return Usage(
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        total_tokens=a.total_tokens + b.total_tokens,
    )


def _answer(
    message: AIMessage, prepared: Prepared, usage: Usage, text: str, unsupported: list[str]
) -> Answer:
    """The model's message as an Answer: text or tool calls, with the prompt's citations and
    the claims none of its sources holds."""
    calls = [ToolCall.from_langchain(dict(c)) for c in message.tool_calls]
    calls += [ToolCall.from_langchain(dict(c)) for c in message.invalid_tool_calls]
    meta = message.response_metadata
    finish = str(meta.get("finish_reason") or "stop")
    if calls and finish == "stop":
        finish = "tool_calls"  # some servers say "stop" for a call
    return Answer(
        text,
        prepared.citations,
        usage,
        finish,
        prepared.findings,
        tool_calls=calls,
        logprobs=meta.get("logprobs") if isinstance(meta.get("logprobs"), dict) else None,
        unsupported=unsupported,
    )


def _usage(meta: Any) -> Usage:
    if not meta:
        return Usage()
    return Usage(
        prompt_tokens=meta.get("input_tokens", 0),
        completion_tokens=meta.get("output_tokens", 0),
        total_tokens=meta.get("total_tokens", 0),
    )
