"""A person's answer behind a front end's background completions, on the one local model.

    .venv/bin/python bench/bench_fair_queue.py [--background 3] [--rounds 3]

One Open WebUI message is the answer plus its title, tags and follow-up task completions on the
same model. Here: N background completions (Open WebUI's task prompts) are sent, then the person's
question; its latency (send to last token) is compared with the same question alone. Baseline:
every call of the same priority (arrival order: the question waits for all that came before it,
what a plain lock gives at best); then the fair queue (the question goes next, and the
background generation running when it arrives steps aside). Ratios are to the question alone,
measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

HISTORY = "USER: How tall is the Eiffel Tower?\nASSISTANT: The Eiffel Tower is 330 metres tall."
TASKS = [
    "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history.\n"
    '### Output:\nJSON format: { "title": "your concise title here" }\n',
    "### Task:\nGenerate 1-3 broad tags categorizing the main themes of the chat history.\n"
    '### Output:\nJSON format: { "tags": ["tag1", "tag2", "tag3"] }\n',
    "### Task:\nSuggest 3-5 relevant follow-up questions the user might ask.\n"
    '### Output:\nJSON format: { "follow_ups": ["Question 1?", "Question 2?"] }\n',
]
QUESTION = (
    "Answer from the sources.\n[1] The Eiffel Tower in Paris is 330 metres tall and weighs "
    "10,100 tonnes.\nQuestion: How much does the Eiffel Tower weigh?"
)


def main() -> None:
    from langchain_core.messages import HumanMessage

    from assistant.llm.llamacpp import LlamaCppChat, packaged_gguf

    parser = argparse.ArgumentParser()
    parser.add_argument("--background", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = LlamaCppChat(model_path=str(packaged_gguf()), max_tokens=256)
    model.load()

    def ask(content: str, priority: str, out: list[float] | None = None) -> float:
        started = time.perf_counter()
        model.invoke([HumanMessage(content)], priority=priority)
        took = time.perf_counter() - started
        if out is not None:
            out.append(took)
        return took

    def with_background(question_priority: str) -> float:
        threads = [
            threading.Thread(
                target=ask,
                args=(TASKS[i % len(TASKS)] + f"### Chat History:\n{HISTORY}", "background"),
            )
            for i in range(args.background)
        ]
        for thread in threads:
            thread.start()
            time.sleep(0.02)  # they arrive first, in order
        took = ask(QUESTION, question_priority)
        for thread in threads:
            thread.join()
        return took

    ask(QUESTION, "interactive")  # warm
    alone = statistics.median(ask(QUESTION, "interactive") for _ in range(args.rounds))
    # baseline: the question queues like the rest (same class: arrival order)
    fifo = statistics.median(with_background("background") for _ in range(args.rounds))
    fair = statistics.median(with_background("interactive") for _ in range(args.rounds))
    print(f"question alone                      {alone:6.2f} s")
    print(
        f"behind {args.background} background, arrival order  {fifo:6.2f} s  ({fifo / alone:.1f}x)"
    )
    print(
        f"behind {args.background} background, fair queue    {fair:6.2f} s  ({fair / alone:.1f}x)"
    )


if __name__ == "__main__":
    main()
