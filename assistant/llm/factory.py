"""One factory for every chat model the assistant can use."""

from __future__ import annotations

from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import SecretStr

from assistant.config import LLMSettings
from assistant.llm.llamacpp import LlamaCppChat, packaged_gguf


def model_id(settings: LLMSettings) -> str:
    return settings.model_name


def make_chat_model(settings: LLMSettings) -> BaseChatModel:
    if settings.provider == "local":
        return LlamaCppChat(
            model_path=settings.model_path or str(packaged_gguf()),
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            logits_all=settings.logprobs,
            loop_stop_tokens=settings.loop_stop_tokens,
            model_name=settings.model_name,
        )
    if settings.provider == "openai":
        from langchain_openai import ChatOpenAI

        # a local server (vLLM, Ollama, llama.cpp) often wants no key; the SDK insists on one
        key = settings.api_key if settings.api_key.get_secret_value() else SecretStr("no-key")
        return ChatOpenAI(
            base_url=settings.base_url,
            model=settings.model_name,
            api_key=key,
            temperature=settings.temperature,
            max_completion_tokens=settings.max_tokens,
            stream_usage=True,
            max_retries=2,
        )
    # "fake": unit tests only; streams character by character like a real model
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    return FakeListChatModel(responses=list(settings.fake_responses))
