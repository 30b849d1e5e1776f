"""A front end's own task completions on the local model, grounded or as sent (not a timed test).

    .venv/bin/python bench/bench_frontend_tasks.py

Open WebUI asks the model, after each answer, for a title, tags and follow-up questions, each
prompt ("### Task: ...") carrying the chat history and the JSON it wants back. Here: three
conversations over the grounded-answers corpus (``bench/answers``), the three task prompts for
each, answered through the orchestrator two ways in the same run: as a question (the baseline,
what every request got before: the knowledge base searched, its sources and our grounding
instructions around the prompt) and as a front end's task (the messages as sent). Printed:
answers that hold the JSON object asked for (its key), prompt tokens and seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from bench.bench_answers import CORPUS, TENANT, settings_for  # noqa: E402
from bench.bench_fair_queue import TASKS  # noqa: E402

CONVERSATIONS = [
    ("How much does the Harbor E-Bike 2 weigh?", "The Harbor E-Bike 2 weighs 21.4 kilograms [1]."),
    (
        "What is the daily meal allowance for business travel?",
        "The daily meal allowance for business travel is 55 euros [1].",
    ),
    ("Who issued invoice 7731?", "Invoice 7731 was issued by Kestrel Office Supplies Ltd [1]."),
]
KEYS = ["title", "tags", "follow_ups"]  # what each of TASKS asks for, in order


def holds_json(text: str, key: str) -> bool:
    """Whether the answer holds a JSON object with the key asked for (as the front end parses
    it: the text from the first "{" to the last "}")."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if not match:
        return False
    try:
        parsed = json.loads(match.group())
    except ValueError:
        return False
    return isinstance(parsed, dict) and key in parsed


async def run(services: Any, as_task: bool) -> list[dict[str, Any]]:
    from assistant.orchestrator import ChatInput, ChatTurn

    rows = []
    for question, answer in CONVERSATIONS:
        history = f"### Chat History:\n<chat_history>\nUSER: {question}\nASSISTANT: {answer}\n"
        for task, key in zip(TASKS, KEYS, strict=True):
            prompt = task + history + "</chat_history>"
            turns = [ChatTurn("user", prompt)]
            chat = ChatInput(tenant=TENANT, messages=turns, frontend_task=as_task)
            started = time.perf_counter()
            reply = await services.orchestrator.answer(chat)
            rows.append(
                {
                    "json": holds_json(reply.text, key),
                    "tokens": reply.usage.prompt_tokens,
                    "seconds": time.perf_counter() - started,
                }
            )
    return rows


def main() -> None:
    from assistant.services import Services

    with tempfile.TemporaryDirectory() as tmp:
        services = Services.build(settings_for("default", Path(tmp)))
        for path in sorted(CORPUS.glob("*.md")):
            services.ingestor.ingest_bytes(TENANT, path.name, path.read_bytes())
        services.warm_up()
        grounded = asyncio.run(run(services, as_task=False))
        as_sent = asyncio.run(run(services, as_task=True))
    print("\n| task prompts answered | JSON asked for | prompt tokens p50 | seconds, all |")
    print("|---|---|---|---|")
    for name, rows in (("as questions, grounded (baseline)", grounded), ("as sent", as_sent)):
        print(
            f"| {name} | {sum(r['json'] for r in rows)}/{len(rows)} | "
            f"{statistics.median(r['tokens'] for r in rows):.0f} | "
            f"{sum(r['seconds'] for r in rows):.1f} s |"
        )
    ratio = sum(r["seconds"] for r in as_sent) / sum(r["seconds"] for r in grounded)
    print(f"\ntime x{ratio:.2f} of the baseline")


if __name__ == "__main__":
    main()
