"""OpenAI-API benchmarks (not a timed test): prints figures and ratios, asserts nothing.

    .venv/bin/python bench/bench_openai_api.py        # about 2 minutes on 2 cores

1. Grammar-constrained generation on the local model (SmolLM2-135M through ``LlamaCppChat``)
   against free generation of the same prompts: milliseconds per generated token for a forced
   tool call, a JSON-Schema ``response_format``, ``json_object`` and ``tool_choice="auto"``
   (which constrains even a text answer not to start with ``{``). Baseline: no grammar.
2. Embeddings per second through ``POST /v1/embeddings`` (a real uvicorn server on loopback;
   the OpenAI SDK with its default base64, and float lists read by httpx and by the SDK)
   against the bare embedder on the same texts in the same batches. Goal: ratio >= 0.9.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LLM_USER_PATH", "/tmp/assistant-llm-user")

from langchain_core.messages import HumanMessage, SystemMessage  # noqa: E402

from assistant.llm.llamacpp import LlamaCppChat, packaged_gguf  # noqa: E402
from assistant.llm.options import Generation, ToolSpec  # noqa: E402

QUESTIONS = [
    "What is the weather in Paris?",
    "Tell me about the city of Rome and its population.",
    "Describe Berlin in one paragraph.",
    "What should I know about visiting Madrid?",
]
CITY = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "country": {"type": "string"},
        "population": {"type": "integer"},
        "famous_for": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["city", "country", "population", "famous_for"],
}
TOOL = ToolSpec("lookup_city", CITY, "Facts about a city")
REPEAT = 3
MAX_TOKENS = 64


def _ms_per_token(model: LlamaCppChat, gen: Generation) -> tuple[float, float]:
    """(ms per generated token, mean tokens) over every question, REPEAT times."""
    per_token, tokens = [], []
    for _ in range(REPEAT):
        for question in QUESTIONS:
            messages = [SystemMessage("You are a helpful assistant."), HumanMessage(question)]
            started = time.perf_counter()
            reply = model.invoke(messages, **gen.kwargs())
            elapsed = time.perf_counter() - started
            usage = getattr(reply, "usage_metadata", None) or {"output_tokens": 0}
            produced = usage["output_tokens"] or 1
            per_token.append(1000 * elapsed / produced)
            tokens.append(produced)
    return statistics.median(per_token), statistics.mean(tokens)


def bench_grammar() -> None:
    model = LlamaCppChat(model_path=str(packaged_gguf()), n_ctx=2048, max_tokens=MAX_TOKENS)
    model.load()
    model.invoke("warm up", max_tokens=4)
    schema_format = {"type": "json_schema", "json_schema": {"name": "city", "schema": CITY}}
    variants: dict[str, Generation] = {
        "free generation (baseline)": Generation(max_tokens=MAX_TOKENS),
        "tool call (required)": Generation(
            tools=[TOOL], tool_choice="required", max_tokens=MAX_TOKENS
        ),
        "json_schema response_format": Generation(
            response_format=schema_format, max_tokens=MAX_TOKENS
        ),
        "json_object response_format": Generation(
            response_format={"type": "json_object"}, max_tokens=MAX_TOKENS
        ),
        "tool_choice auto": Generation(tools=[TOOL], max_tokens=MAX_TOKENS),
    }
    print(f"\n1. grammar-constrained generation, SmolLM2-135M, {len(QUESTIONS)}x{REPEAT} prompts")
    base = None
    for name, gen in variants.items():
        ms, tokens = _ms_per_token(model, gen)
        base = base or ms
        print(f"   {name:32s} {ms:6.1f} ms/token  ({tokens:4.1f} tokens)  x{ms / base:.2f}")


def bench_embeddings() -> None:
    import httpx
    from openai import OpenAI

    from assistant.api.app import create_app
    from assistant.services import Services
    from tests.support.bots import ServerThread
    from tests.support.settings import TEST_KEY, build_settings

    texts = [
        f"Item {i}: the {w} report for the {r} region is due on day {i % 28 + 1}."
        for i, (w, r) in enumerate(
            (w, r) for w in ("sales", "budget", "travel", "hiring") for r in range(64)
        )
    ]
    batch = 32
    with tempfile.TemporaryDirectory() as tmp:
        settings = build_settings(
            Path(tmp) / "data",
            {
                "llm": {"provider": "fake"},
                "plugins": {"allow": []},
                "workers": {"in_process": True},
                "api": {"rate_limit_per_minute": 0, "max_concurrent_requests": 0},
            },
        )
        services = Services.build(settings)
        services.warm_up()
        embedder = services.embedder
        embedder.embed(texts[:batch])
        with ServerThread(create_app(services=services)) as server:
            client = OpenAI(base_url=f"{server.url}/v1", api_key=TEST_KEY, max_retries=0)
            client.embeddings.create(model=embedder.name, input=texts[:batch])

            def rate(call: Any) -> float:
                started = time.perf_counter()
                for _ in range(REPEAT):
                    for i in range(0, len(texts), batch):
                        call(texts[i : i + batch])
                return REPEAT * len(texts) / (time.perf_counter() - started)

            bare = rate(lambda chunk: embedder.embed(chunk, batch_size=batch))
            b64 = rate(lambda chunk: client.embeddings.create(model=embedder.name, input=chunk))
            sdk_floats = rate(
                lambda chunk: client.embeddings.create(
                    model=embedder.name, input=chunk, encoding_format="float"
                )
            )
            http = httpx.Client(headers={"Authorization": f"Bearer {TEST_KEY}"}, timeout=60)
            floats = rate(
                lambda chunk: http.post(
                    f"{server.url}/v1/embeddings",
                    json={"model": embedder.name, "input": chunk, "encoding_format": "float"},
                ).json()
            )
    print(f"\n2. embeddings, {len(texts)} sentences in batches of {batch}, x{REPEAT}")
    print(f"   bare embedder (baseline)        {bare:7.1f} texts/s")
    print(f"   /v1/embeddings, base64 (SDK)    {b64:7.1f} texts/s  ratio {b64 / bare:.2f}")
    print(f"   /v1/embeddings, float (httpx)   {floats:7.1f} texts/s  ratio {floats / bare:.2f}")
    print(
        f"   /v1/embeddings, float (SDK)     {sdk_floats:7.1f} texts/s  ratio "
        f"{sdk_floats / bare:.2f}  (the SDK's own parsing of float lists)"
    )


if __name__ == "__main__":
    if "--embeddings-only" not in sys.argv:
        bench_grammar()
    bench_embeddings()
