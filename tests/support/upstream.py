"""A fake OpenAI-compatible LLM server (the upstream of ``ASSISTANT_LLM__PROVIDER=openai``).

It speaks the real chat-completions wire protocol, plain and SSE, keeps every request body it
was sent, and answers with a tool call when it was offered tools (and not told ``none``), with
logprobs when asked, and with text otherwise. A stand-in for vLLM, Ollama or OpenAI itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

REPLY = "Upstream answer [1]."


class FakeUpstream:
    """``script``: replies to give first, in order: ``{"tool": name, "arguments": {...}}`` or
    ``{"content": text}``. ``stubborn``: a tool it calls whenever it may (a model that never
    stops calling tools)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[dict[str, Any]] = []
        self.stubborn: str | None = None

    def _call(self, name: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], str]:
        call = {
            "id": f"call_up{len(self.requests)}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"

    def _message(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        tools = body.get("tools") or []
        may_call = bool(tools) and body.get("tool_choice") != "none"
        if self.script:
            step = self.script.pop(0)
            if "tool" in step and may_call:
                return self._call(step["tool"], step.get("arguments", {}))
            return {"role": "assistant", "content": step.get("content", REPLY)}, "stop"
        if self.stubborn and may_call:
            return self._call(self.stubborn, {"query": f"again {len(self.requests)}"})
        if tools and body.get("tool_choice") != "none":
            name = tools[0]["function"]["name"]
            call = {
                "id": "call_upstream1",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps({"city": "Paris"})},
            }
            return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
        return {"role": "assistant", "content": REPLY}, "stop"

    @staticmethod
    def _logprobs(body: dict[str, Any]) -> dict[str, Any] | None:
        if not body.get("logprobs"):
            return None
        token = {"token": "Up", "logprob": -0.25, "bytes": [85, 112], "top_logprobs": []}
        return {"content": [token], "refusal": None}

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            message, finish = self._message(body)
            base = {"id": "chatcmpl-up", "created": int(time.time()), "model": body["model"]}
            usage = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
            if not body.get("stream"):
                choice = {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish,
                    "logprobs": self._logprobs(body),
                }
                return JSONResponse(
                    {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
                )

            def events() -> Iterator[str]:
                def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
                    choice = {"index": 0, "delta": delta, "finish_reason": finish}
                    data = {**base, "object": "chat.completion.chunk", "choices": [choice]}
                    return f"data: {json.dumps(data)}\n\n"

                yield chunk({"role": "assistant", "content": ""})
                if message.get("tool_calls"):
                    call = message["tool_calls"][0]
                    yield chunk({"tool_calls": [{"index": 0, **call}]})
                else:
                    for word in str(message["content"]).split(" "):
                        yield chunk({"content": word + " "})
                yield chunk({}, finish)
                data = {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
                yield f"data: {json.dumps(data)}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        return app
